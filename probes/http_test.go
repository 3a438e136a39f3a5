package probes

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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
