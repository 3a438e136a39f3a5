package probes

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testServer answers:
//
//	/status/N  with status N
//	/json      with a small JSON document
//	/echo      with the request's method, X-Test header, Host and body
//	/sleep     after the request's context ends (or 10s)
//	/redirect  with a 302 to /status/200
func testServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		var code int
		_, _ = fmt.Sscan(r.PathValue("code"), &code)
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "status page")
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"up","replicas":3,"ready":true,"leader":null,"items":[{"name":"a"},{"name":"b"}]}`)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "method=%s x-test=%s host=%s body=%s", r.Method, r.Header.Get("X-Test"), r.Host, b)
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/status/200", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func buildHTTP(t *testing.T, s HTTPSpec) Prober {
	t.Helper()
	p, err := s.Build("web")
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.(io.Closer).Close() })
	return p
}

func TestHTTPProbe(t *testing.T) {
	srv := testServer(t)
	no := false
	tests := []struct {
		name    string
		spec    HTTPSpec
		ok      bool
		value   float64
		errPart string
	}{
		{name: "2xx by default", spec: HTTPSpec{URL: srv.URL + "/status/204"}, ok: true, value: 204},
		{name: "500 is not 2xx", spec: HTTPSpec{URL: srv.URL + "/status/500"}, value: 500, errPart: "status 500, want 2xx"},
		{name: "status in set", spec: HTTPSpec{URL: srv.URL + "/status/404", ExpectStatus: []int{200, 404}}, ok: true, value: 404},
		{name: "status not in set", spec: HTTPSpec{URL: srv.URL + "/status/200", ExpectStatus: []int{301, 302}}, value: 200, errPart: "status 200, want 301 302"},
		{name: "redirect followed", spec: HTTPSpec{URL: srv.URL + "/redirect"}, ok: true, value: 200},
		{name: "redirect not followed", spec: HTTPSpec{URL: srv.URL + "/redirect", FollowRedirects: &no, ExpectStatus: []int{302}}, ok: true, value: 302},
		{name: "regex hit", spec: HTTPSpec{URL: srv.URL + "/json", BodyRegex: `"status":\s*"up"`}, ok: true, value: 200},
		{name: "regex miss", spec: HTTPSpec{URL: srv.URL + "/json", BodyRegex: `down`}, value: 200, errPart: `body does not match "down"`},
		{name: "json path exists", spec: HTTPSpec{URL: srv.URL + "/json", JSONPath: "$.status"}, ok: true, value: 200},
		{name: "json path exists even if null", spec: HTTPSpec{URL: srv.URL + "/json", JSONPath: "$.leader"}, ok: true, value: 200},
		{name: "json path missing", spec: HTTPSpec{URL: srv.URL + "/json", JSONPath: "$.nope"}, value: 200, errPart: "json_path $.nope: not found"},
		{name: "json equals string", spec: HTTPSpec{URL: srv.URL + "/json", JSONPath: "$.status", JSONEquals: "up"}, ok: true, value: 200},
		{name: "json equals int", spec: HTTPSpec{URL: srv.URL + "/json", JSONPath: "$.replicas", JSONEquals: int64(3)}, ok: true, value: 200},
		{name: "json equals bool", spec: HTTPSpec{URL: srv.URL + "/json", JSONPath: "$.ready", JSONEquals: true}, ok: true, value: 200},
		{name: "json equals null text", spec: HTTPSpec{URL: srv.URL + "/json", JSONPath: "$.leader", JSONEquals: "null"}, ok: true, value: 200},
		{name: "json equals nested", spec: HTTPSpec{URL: srv.URL + "/json", JSONPath: "$.items[1].name", JSONEquals: "b"}, ok: true, value: 200},
		{name: "json differs", spec: HTTPSpec{URL: srv.URL + "/json", JSONPath: "$.replicas", JSONEquals: int64(5)}, value: 200, errPart: "json_path $.replicas is 3, want 5"},
		{name: "json type differs", spec: HTTPSpec{URL: srv.URL + "/json", JSONPath: "$.ready", JSONEquals: int64(1)}, value: 200, errPart: "is true, want 1"},
		{name: "not json", spec: HTTPSpec{URL: srv.URL + "/status/200", JSONPath: "$.a"}, value: 200, errPart: "body is not JSON"},
		{name: "headers and body sent", spec: HTTPSpec{
			URL: srv.URL + "/echo", Method: "post", Body: "ping",
			Headers:   map[string]string{"X-Test": "yes", "Host": "svc.example"},
			BodyRegex: `^method=POST x-test=yes host=svc.example body=ping$`,
		}, ok: true, value: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := buildHTTP(t, tt.spec).Probe(context.Background())
			assert.Equal(t, "web", s.Probe)
			assert.Equal(t, tt.ok, s.OK, "err: %s", s.Err)
			assert.Equal(t, tt.value, s.Value)
			if tt.ok {
				assert.Empty(t, s.Err)
			} else {
				assert.Contains(t, s.Err, tt.errPart)
			}
			assert.Positive(t, s.Latency)
			assert.False(t, s.Time.IsZero())
		})
	}
}

func TestHTTPProbeTimeout(t *testing.T) {
	srv := testServer(t)
	p := buildHTTP(t, HTTPSpec{URL: srv.URL + "/sleep"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s := p.Probe(ctx)
	assert.False(t, s.OK)
	assert.Contains(t, s.Err, "deadline exceeded")
	assert.Zero(t, s.Value)
}

func TestHTTPProbeConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	s := buildHTTP(t, HTTPSpec{URL: "http://" + addr + "/"}).Probe(context.Background())
	assert.False(t, s.OK)
	assert.Contains(t, s.Err, "connection refused")
	assert.NotContains(t, s.Err, addr+"/\"", "the URL is not repeated in the reason")
}

func TestHTTPProbeTLSSkipVerify(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)

	s := buildHTTP(t, HTTPSpec{URL: srv.URL}).Probe(context.Background())
	assert.False(t, s.OK)
	assert.Contains(t, s.Err, "certificate")

	s = buildHTTP(t, HTTPSpec{URL: srv.URL, TLSSkipVerify: true}).Probe(context.Background())
	assert.True(t, s.OK, s.Err)
}

func TestHTTPProbeReusesConnections(t *testing.T) {
	var conns int
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 4096))
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns++
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	p := buildHTTP(t, HTTPSpec{URL: srv.URL})
	for range 20 {
		require.True(t, p.Probe(context.Background()).OK)
	}
	srv.Close() // waits for handlers, so conns is settled
	assert.Equal(t, 1, conns)
}

func TestHTTPValidate(t *testing.T) {
	tests := []struct {
		name string
		spec HTTPSpec
		want []FieldError
	}{
		{name: "minimal", spec: HTTPSpec{URL: "http://x"}},
		{name: "everything", spec: HTTPSpec{URL: "https://x/y", Method: "post", ExpectStatus: []int{100, 599}, BodyRegex: "a+", JSONPath: "$.a", JSONEquals: 1.5}},
		{name: "missing url", spec: HTTPSpec{}, want: []FieldError{{"url", "required"}}},
		{name: "bad scheme", spec: HTTPSpec{URL: "ftp://x"}, want: []FieldError{{"url", `scheme must be http or https, not "ftp"`}}},
		{name: "no host", spec: HTTPSpec{URL: "http:///path"}, want: []FieldError{{"url", `no host in "http:///path"`}}},
		{name: "unparsable url", spec: HTTPSpec{URL: "http://x y/%"}, want: []FieldError{{"url", `not a URL: invalid character " " in host name`}}},
		{
			name: "every problem at once",
			spec: HTTPSpec{URL: "", Method: "FETCH", ExpectStatus: []int{200, 99, 600}, BodyRegex: "(", JSONPath: "$[", JSONEquals: []any{1}},
			want: []FieldError{
				{"url", "required"},
				{"method", `unknown method "FETCH" (want GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or TRACE)`},
				{"expect_status", "[1] 99 is not an HTTP status (100..599)"},
				{"expect_status", "[2] 600 is not an HTTP status (100..599)"},
				{"body_regex", "bad regexp: error parsing regexp: missing closing ): `(`"},
				{"json_path", "bad JSON path: parsing error: $[\t:1:3 - 1:3 unexpected EOF while scanning extensions"},
				{"json_equals", "must be a string, number or boolean, not []interface {}"},
			},
		},
		{name: "equals without path", spec: HTTPSpec{URL: "http://x", JSONEquals: "a"}, want: []FieldError{{"json_equals", "needs json_path"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.spec.Validate())
		})
	}
}

func TestHTTPBuildRejectsInvalid(t *testing.T) {
	_, err := (&HTTPSpec{Method: "FETCH"}).Build("web")
	var inv *InvalidError
	require.ErrorAs(t, err, &inv)
	assert.Len(t, inv.Fields, 2)
	var fe FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "url", fe.Field)
	assert.EqualError(t, err, `probe web: invalid spec: url: required; method: unknown method "FETCH" (want GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or TRACE)`)
}

func TestHTTPProbeCancelWithoutDeadline(t *testing.T) {
	srv := testServer(t)
	p := buildHTTP(t, HTTPSpec{URL: srv.URL + "/sleep"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Sample)
	go func() { done <- p.Probe(ctx) }()
	cancel()
	select {
	case s := <-done:
		assert.False(t, s.OK)
		assert.Contains(t, s.Err, "canceled")
	case <-time.After(5 * time.Second):
		t.Fatal("Probe did not return after its context was cancelled")
	}
}

func TestHTTPProbeCancelWhileReadingBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "partial ")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes
	}))
	t.Cleanup(srv.Close)
	p := buildHTTP(t, HTTPSpec{URL: srv.URL, BodyRegex: "never"})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	s := p.Probe(ctx)
	assert.False(t, s.OK)
	assert.Equal(t, 200.0, s.Value)
	assert.Contains(t, s.Err, "read body: context deadline exceeded")
}

// A kept-alive connection the server has since closed is not used, even
// for a request that may not be repeated.
func TestHTTPProbeServerClosedIdleConnection(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			var conns atomic.Int32
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)

			p := buildHTTP(t, HTTPSpec{URL: srv.URL, Method: method, Body: "x"})
			require.True(t, p.Probe(context.Background()).OK)
			srv.CloseClientConnections()
			require.Eventually(t, func() bool { return conns.Load() == 1 }, time.Second, time.Millisecond)

			s := p.Probe(context.Background())
			assert.True(t, s.OK, s.Err)
			assert.Equal(t, int32(2), conns.Load())
		})
	}
}

// A GET on a connection the server just closed is retried once on a new
// one (net/http's own retry of a replayable request).
func TestHTTPProbeRetriesIdempotentOnClosedConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	p := buildHTTP(t, HTTPSpec{URL: srv.URL})
	require.True(t, p.Probe(context.Background()).OK)
	srv.CloseClientConnections()
	time.Sleep(10 * time.Millisecond) // let the close arrive; the check is skipped anyway
	s := p.Probe(context.Background())
	assert.True(t, s.OK, s.Err)
}

func TestHTTPProbeBodyCap(t *testing.T) {
	big := strings.Repeat("a", maxBody) + "tail"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, big)
	}))
	t.Cleanup(srv.Close)

	s := buildHTTP(t, HTTPSpec{URL: srv.URL, BodyRegex: "tail"}).Probe(context.Background())
	assert.False(t, s.OK)
	assert.Contains(t, s.Err, `body does not match "tail"`, "only the first 1 MiB is matched")

	p := buildHTTP(t, HTTPSpec{URL: srv.URL, BodyRegex: "^a+$"})
	for range 2 { // the second attempt works on whatever connection is left
		s = p.Probe(context.Background())
		assert.True(t, s.OK, s.Err)
	}
}

// Redirects to another host are followed, and the Host header and the
// credentials are not carried over.
func TestHTTPProbeRedirectElsewhere(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "host=%s auth=%q", r.Host, r.Header.Get("Authorization"))
	}))
	t.Cleanup(target.Close)
	var hits atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		// Another host name for the same address: credentials stay behind.
		http.Redirect(w, r, strings.Replace(target.URL, "127.0.0.1", "localhost", 1)+"/there", http.StatusMovedPermanently)
	}))
	t.Cleanup(origin.Close)

	p := buildHTTP(t, HTTPSpec{
		URL:       origin.URL,
		Headers:   map[string]string{"Host": "svc.example", "Authorization": "Bearer x"},
		BodyRegex: `^host=localhost:\d+ auth=""$`,
	})
	for range 3 {
		s := p.Probe(context.Background())
		assert.True(t, s.OK, s.Err)
		assert.Equal(t, 200.0, s.Value)
	}
	assert.Equal(t, int32(3), hits.Load(), "one request to the origin per attempt")
}

func TestHTTPProbeURLCredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pw, _ := r.BasicAuth()
		fmt.Fprintf(w, "%s:%s", user, pw)
	}))
	t.Cleanup(srv.Close)
	u := strings.Replace(srv.URL, "http://", "http://probe:s3cret@", 1)
	s := buildHTTP(t, HTTPSpec{URL: u, BodyRegex: "^probe:s3cret$"}).Probe(context.Background())
	assert.True(t, s.OK, s.Err)
}

// Requests that the environment sends through a proxy (HTTP_PROXY, ...)
// go through http.Transport, which speaks to proxies.
func TestHTTPProbeProxy(t *testing.T) {
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		fmt.Fprintf(w, "via proxy to %s", r.URL)
	}))
	t.Cleanup(proxy.Close)
	proxyURL, err := url.Parse(proxy.URL)
	require.NoError(t, err)
	// net/http reads the environment once per process: set the proxy
	// where the prober would have found it.
	viaProxy := func(*http.Request) (*url.URL, error) { return proxyURL, nil }

	for _, method := range []string{"GET", "POST"} {
		p := buildHTTP(t, HTTPSpec{URL: "http://backend.invalid/x", Method: method, BodyRegex: `^via proxy to http://backend\.invalid/x$`}).(*httpProber)
		p.tr.Proxy = viaProxy

		s := p.Probe(context.Background())
		assert.True(t, s.OK, s.Err)
	}
	assert.Equal(t, int32(2), proxied.Load())
}
