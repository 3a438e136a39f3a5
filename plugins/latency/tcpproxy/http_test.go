package tcpproxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHTTPMatch(t *testing.T) {
	req := func(method, target string, hdr ...string) *http.Request {
		r := &http.Request{Method: method, URL: &url.URL{Path: target}, Header: http.Header{}}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Add(hdr[i], hdr[i+1])
		}
		return r
	}
	for _, tc := range []struct {
		name string
		m    HTTPMatch
		req  *http.Request
		want bool
	}{
		{"everything", HTTPMatch{Percent: 100}, req("POST", "/x"), true},
		{"method", HTTPMatch{Percent: 100, Method: "GET"}, req("GET", "/x"), true},
		{"other method", HTTPMatch{Percent: 100, Method: "GET"}, req("POST", "/x"), false},
		{"method is exact", HTTPMatch{Percent: 100, Method: "GET"}, req("get", "/x"), false},
		{"prefix", HTTPMatch{Percent: 100, PathPrefix: "/pay"}, req("GET", "/payments/1"), true},
		{"not the prefix", HTTPMatch{Percent: 100, PathPrefix: "/pay"}, req("GET", "/api/pay"), false},
		{"regex", HTTPMatch{Percent: 100, PathRegex: `^/orders/[0-9]+$`}, req("GET", "/orders/42"), true},
		{"regex misses", HTTPMatch{Percent: 100, PathRegex: `^/orders/[0-9]+$`}, req("GET", "/orders/x"), false},
		{"header", HTTPMatch{Percent: 100, Header: "x-tenant=acme"}, req("GET", "/", "X-Tenant", "acme"), true},
		{"header, second value", HTTPMatch{Percent: 100, Header: "X-Tenant = acme"}, req("GET", "/", "X-Tenant", "other", "X-Tenant", "acme"), true},
		{"header value differs", HTTPMatch{Percent: 100, Header: "X-Tenant=acme"}, req("GET", "/", "X-Tenant", "acme2"), false},
		{"header missing", HTTPMatch{Percent: 100, Header: "X-Tenant=acme"}, req("GET", "/"), false},
		{"all must hold", HTTPMatch{Percent: 100, Method: "GET", PathPrefix: "/pay", Header: "X-A=1"}, req("GET", "/pay", "X-A", "2"), false},
		{"all hold", HTTPMatch{Percent: 100, Method: "GET", PathPrefix: "/pay", PathRegex: "y$", Header: "X-A=1"}, req("GET", "/pay", "X-A", "1"), true},
	} {
		c, err := tc.m.compile()
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, c.matches(tc.req), tc.name)
	}
}

func TestHTTPMatchString(t *testing.T) {
	for m, want := range map[HTTPMatch]string{
		{Percent: 50, Method: "GET", PathPrefix: "/pay"}: "50% of GET /pay*",
		{Percent: 100}:                  "100% of requests",
		{Percent: 12.5, Method: "POST"}: "12.5% of POST requests",
		{Percent: 100, PathRegex: "^/a$", Header: "X-Tenant=ac"}: "100% of ~^/a$ with X-Tenant=ac",
	} {
		assert.Equal(t, want, m.String())
	}
}

func TestHTTPToxicCheck(t *testing.T) {
	all := &HTTPMatch{Percent: 100}
	for _, tc := range []struct {
		name string
		t    Toxic
		want error
		msg  string
	}{
		{"no match", Toxic{Kind: KindHTTPAbort, Status: 503}, ErrInvalidToxic, "needs a match"},
		{"percent 0", Toxic{Kind: KindHTTPAbort, Status: 503, Match: &HTTPMatch{}}, ErrPercent, "got 0"},
		{"percent 101", Toxic{Kind: KindHTTPAbort, Status: 503, Match: &HTTPMatch{Percent: 101}}, ErrPercent, "got 101"},
		{"bad regex", Toxic{Kind: KindHTTPAbort, Status: 503, Match: &HTTPMatch{Percent: 1, PathRegex: "(["}}, ErrPathRegex, "missing closing ]"},
		{"bad method", Toxic{Kind: KindHTTPAbort, Status: 503, Match: &HTTPMatch{Percent: 1, Method: "GE T"}}, ErrMethod, `"GE T"`},
		{"header without =", Toxic{Kind: KindHTTPAbort, Status: 503, Match: &HTTPMatch{Percent: 1, Header: "X-A"}}, ErrHeader, `"X-A"`},
		{"status 99", Toxic{Kind: KindHTTPAbort, Status: 99, Match: all}, ErrStatus, "got 99"},
		{"status 600", Toxic{Kind: KindHTTPAbort, Status: 600, Match: all}, ErrStatus, "got 600"},
		{"direction", Toxic{Kind: KindHTTPAbort, Status: 503, Match: all, Direction: Upstream}, ErrInvalidToxic, "direction must be empty"},
		{"delay 0", Toxic{Kind: KindHTTPDelay, Match: all}, ErrInvalidToxic, "needs delay > 0"},
		{"no header change", Toxic{Kind: KindHTTPHeader, Match: all}, ErrInvalidToxic, "needs set_headers or remove_headers"},
		{"bad header name", Toxic{Kind: KindHTTPHeader, Match: all, SetHeaders: map[string]string{"X A": "1"}}, ErrHeaderSet, `"X A"`},
		{"header injection", Toxic{Kind: KindHTTPHeader, Match: all, SetHeaders: map[string]string{"X-A": "1\r\nX-B: 2"}}, ErrHeaderSet, `"X-A"`},
		{"TCP toxic with a match", Toxic{Kind: KindReset, Direction: Both, Match: all}, ErrInvalidToxic, "reset is a TCP toxic"},
	} {
		err := tc.t.Check()
		require.ErrorIs(t, err, tc.want, tc.name)
		require.ErrorIs(t, err, ErrInvalidToxic, tc.name)
		assert.Contains(t, err.Error(), tc.msg, tc.name)
	}
	for _, ok := range []Toxic{
		{Kind: KindHTTPAbort, Status: 503, Match: &HTTPMatch{Percent: 0.1, Method: "GET", PathPrefix: "/", PathRegex: "^/a", Header: "X=1"}},
		{Kind: KindHTTPDelay, Delay: time.Millisecond, Match: all, Direction: Both},
		{Kind: KindHTTPHeader, Match: all, RemoveHeaders: []string{"Server"}},
	} {
		assert.NoError(t, ok.Check())
	}
}

func TestHTTPAndStreamToxicsConflict(t *testing.T) {
	p := startProxy(t, echoServer(t))
	require.NoError(t, p.AddToxic(Toxic{ID: "lat", Kind: KindLatency, Direction: Both, Delay: time.Millisecond}))
	err := p.AddToxic(Toxic{ID: "ab", Kind: KindHTTPAbort, Status: 503, Match: &HTTPMatch{Percent: 100}})
	require.ErrorIs(t, err, ErrConflict)
	require.NoError(t, p.RemoveToxic("lat"))
	require.NoError(t, p.AddToxic(Toxic{ID: "ab", Kind: KindHTTPAbort, Status: 503, Match: &HTTPMatch{Percent: 100}}))
	require.ErrorIs(t, p.AddToxic(Toxic{ID: "bh", Kind: KindBlackhole, Direction: Both}), ErrConflict)
	require.NoError(t, p.AddToxic(Toxic{ID: "rst", Kind: KindReset, Direction: Both}), "reset works on any route")
}

// recorder is a listener that records every byte its connections read,
// and counts them.
type recorder struct {
	net.Listener
	mu    sync.Mutex
	got   bytes.Buffer
	conns atomic.Int64
}

func (r *recorder) Accept() (net.Conn, error) {
	c, err := r.Listener.Accept()
	if err == nil {
		r.conns.Add(1)
		c = &recConn{Conn: c, r: r}
	}
	return c, err
}

func (r *recorder) take() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := bytes.Clone(r.got.Bytes())
	r.got.Reset()
	return b
}

type recConn struct {
	net.Conn
	r *recorder
}

func (c *recConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.r.mu.Lock()
	c.r.got.Write(b[:n])
	c.r.mu.Unlock()
	return n, err
}

// upstream is an HTTP server whose answers are the same bytes every time
// (no Date header): it echoes the method, path and body, sets X-Remove-Me,
// and /slow waits 20ms.
func upstream(t *testing.T) (*recorder, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rec := &recorder{Listener: ln}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header()["Date"] = nil
		w.Header().Set("X-Remove-Me", "1")
		w.Header().Set("X-Kept", "yes")
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // chunked framing
		}
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	}))
	srv.Listener = rec
	srv.Start()
	t.Cleanup(srv.Close)
	return rec, rec.Addr().String()
}

// exchange writes raw (requests, pipelined) and reads everything back until
// the server closes (the last request says Connection: close).
func exchange(t *testing.T, addr, raw string) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	return got
}

// Odd spellings net/http would not write the same way: header case and
// order, extension chunk sizes, trailers, a HEAD, a query.
const unmatched = "GET /other?x=1&y=%20 HTTP/1.1\r\nhost: up\r\nX-b: 2\r\nx-A: 1\r\n\r\n" +
	"POST /pay HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n" +
	"HEAD /other HTTP/1.1\r\nHost: up\r\n\r\n" +
	"PUT /other HTTP/1.1\r\nHost: up\r\nContent-Length: 5\r\n\r\nhello" +
	"GET /chunked HTTP/1.1\r\nHost: up\r\nConnection: close\r\n\r\n"

func TestHTTPUnmatchedPassThroughByteForByte(t *testing.T) {
	rec, up := upstream(t)
	direct := exchange(t, up, unmatched)
	sentDirect := rec.take()
	p := startProxy(t, up)
	require.NoError(t, p.AddToxic(Toxic{ID: "ab", Kind: KindHTTPAbort, Status: 503, Match: &HTTPMatch{Percent: 100, Method: "GET", PathPrefix: "/pay"}}))
	require.NoError(t, p.AddToxic(Toxic{ID: "hd", Kind: KindHTTPHeader, RemoveHeaders: []string{"X-Remove-Me"}, Match: &HTTPMatch{Percent: 100, Header: "X-None=1"}}))
	proxied := exchange(t, p.Addr(), unmatched)
	assert.Equal(t, string(direct), string(proxied), "responses changed through the proxy")
	assert.Equal(t, string(sentDirect), string(rec.take()), "requests changed through the proxy")
	assert.Equal(t, []byte(unmatched), sentDirect)
	assert.Contains(t, string(direct), "d\r\nGET /chunked \r\n0\r\n\r\n") // a chunked response ran
}

// readResponses reads n responses from br, answering HEAD-less requests.
func readResponses(t *testing.T, br *bufio.Reader, n int) []string {
	t.Helper()
	var out []string
	for range n {
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		out = append(out, fmt.Sprintf("%d %s", resp.StatusCode, b))
	}
	return out
}

func TestHTTPPipelinedAnswersInOrder(t *testing.T) {
	rec, up := upstream(t)
	p := startProxy(t, up)
	require.NoError(t, p.AddToxic(Toxic{ID: "ab", Kind: KindHTTPAbort, Status: 503, Body: "injected", Match: &HTTPMatch{Percent: 100, PathPrefix: "/pay"}}))
	require.NoError(t, p.AddToxic(Toxic{ID: "dl", Kind: KindHTTPDelay, Delay: 30 * time.Millisecond, Match: &HTTPMatch{Percent: 100, PathPrefix: "/slow"}}))
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var raw strings.Builder
	paths := []string{"/a", "/pay/1", "/slow", "/pay/2", "/b", "/pay/3", "/slow", "/c"}
	for _, path := range paths {
		fmt.Fprintf(&raw, "POST %s HTTP/1.1\r\nHost: up\r\nContent-Length: 2\r\n\r\nhi", path)
	}
	_, err = io.WriteString(c, raw.String()) // all at once: pipelined
	require.NoError(t, err)
	got := readResponses(t, bufio.NewReader(c), len(paths))
	var want []string
	for _, path := range paths {
		if strings.HasPrefix(path, "/pay") {
			want = append(want, "503 injected")
		} else {
			want = append(want, "200 POST "+path+" hi")
		}
	}
	assert.Equal(t, want, got)
	assert.Equal(t, int64(1), rec.conns.Load())
	assert.NotContains(t, string(rec.take()), "/pay", "an aborted request reached the upstream")
}

// TestHTTPAbortHalfOfOnePath: 50% of /pay aborted, measured over 1000
// requests on kept-alive connections; /other untouched.
func TestHTTPAbortHalfOfOnePath(t *testing.T) {
	rec, up := upstream(t)
	p := startProxy(t, up)
	require.NoError(t, p.AddToxic(Toxic{ID: "ab", Kind: KindHTTPAbort, Status: 503, Body: "down", Match: &HTTPMatch{Percent: 50, Method: "GET", PathPrefix: "/pay"}}))
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer cl.CloseIdleConnections()
	aborted, other := 0, 0
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		for _, path := range []string{"/pay", "/other"} {
			resp, err := cl.Get("http://" + p.Addr() + path)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case path == "/pay" && resp.StatusCode == 503:
				require.Equal(t, "down", string(b))
				require.Equal(t, "ab", resp.Header.Get("X-Chaosctl-Fault"))
				aborted++
			case resp.StatusCode == 200 && string(b) == "GET "+path+" ":
				if path == "/other" {
					other++
				}
			default:
				t.Fatalf("%s: %d %q", path, resp.StatusCode, b)
			}
		}
	}
	assert.Equal(t, 1000, other, "requests to /other")
	assert.InDelta(t, 500, aborted, 50, "aborted /pay out of 1000")
	assert.Equal(t, int64(1), rec.conns.Load(), "the kept-alive connection was not reused")
}

// TestHTTPDelay: a delayed request and an unmatched one both get their
// upstream's answer. How long the delay holds is measured in test/
// (TestProxyHTTPDelay).
func TestHTTPDelay(t *testing.T) {
	_, up := upstream(t)
	p := startProxy(t, up)
	require.NoError(t, p.AddToxic(Toxic{ID: "dl", Kind: KindHTTPDelay, Delay: 10 * time.Millisecond, Match: &HTTPMatch{Percent: 100, PathRegex: "^/slow$"}}))
	cl := &http.Client{Timeout: 5 * time.Second}
	defer cl.CloseIdleConnections()
	for _, path := range []string{"/slow", "/fast", "/slow"} {
		resp, err := cl.Get("http://" + p.Addr() + path)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode, path)
		assert.Equal(t, "GET "+path+" ", string(b), path)
	}
}

func TestHTTPHeaderSetAndRemove(t *testing.T) {
	_, up := upstream(t)
	p := startProxy(t, up)
	require.NoError(t, p.AddToxic(Toxic{ID: "hd", Kind: KindHTTPHeader, SetHeaders: map[string]string{"X-Chaos": "on", "X-Kept": "changed"},
		RemoveHeaders: []string{"x-remove-me"}, Match: &HTTPMatch{Percent: 100, PathPrefix: "/edit"}}))
	cl := &http.Client{Timeout: 5 * time.Second}
	defer cl.CloseIdleConnections()
	for _, path := range []string{"/edit", "/chunked/edit", "/edit/chunked", "/plain"} {
		resp, err := cl.Get("http://" + p.Addr() + path)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "GET "+path+" ", string(b), path)
		if strings.HasPrefix(path, "/edit") {
			assert.Equal(t, "on", resp.Header.Get("X-Chaos"), path)
			assert.Equal(t, "changed", resp.Header.Get("X-Kept"), path)
			assert.Empty(t, resp.Header.Values("X-Remove-Me"), path)
		} else {
			assert.Empty(t, resp.Header.Get("X-Chaos"), path)
			assert.Equal(t, "1", resp.Header.Get("X-Remove-Me"), path)
		}
	}
}

// TestHTTPToxicReachesKeptAliveClients: a connection opened before the
// first L7 toxic is closed once quiet, so the client's next request is
// parsed; after the toxic goes, HTTP links close once idle and traffic
// is TCP again.
func TestHTTPToxicReachesKeptAliveClients(t *testing.T) {
	_, up := upstream(t)
	p := startProxy(t, up)
	cl := &http.Client{Timeout: 5 * time.Second}
	defer cl.CloseIdleConnections()
	status := func() int {
		resp, err := cl.Get("http://" + p.Addr() + "/pay")
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, 200, status())
	require.NoError(t, p.AddToxic(Toxic{ID: "ab", Kind: KindHTTPAbort, Status: 503, Match: &HTTPMatch{Percent: 100}}))
	got := 0
	// A probe's pace: the old link is quiet (quietFor) between requests.
	for deadline := time.Now().Add(5 * time.Second); got != 503 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got = status()
	}
	require.Equal(t, 503, got, "the kept-alive client never saw the toxic")
	require.NoError(t, p.RemoveToxic("ab"))
	httpLinks := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		n := 0
		for l := range p.conns {
			if l.http {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(5 * time.Second); httpLinks() > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	assert.Zero(t, httpLinks(), "an idle HTTP link stayed open after the last L7 toxic went")
	assert.Equal(t, 200, status())
}

// Upgrades, HTTP/2 prior knowledge and garbage are tunnelled as they came.
func TestHTTPTunnels(t *testing.T) {
	for name, raw := range map[string]string{
		"h2 preface": "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
		"upgrade":    "GET /ws HTTP/1.1\r\nHost: up\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nframes",
		"garbage":    "\x16\x03\x01 not http at all",
	} {
		p := startProxy(t, echoServer(t))
		require.NoError(t, p.AddToxic(Toxic{ID: "ab", Kind: KindHTTPAbort, Status: 503, Match: &HTTPMatch{Percent: 100}}))
		c, err := net.Dial("tcp", p.Addr())
		require.NoError(t, err)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if name == "upgrade" {
			// the echo server answers with the request itself: not a
			// response; the client side is a tunnel either way
			_, err = io.WriteString(c, raw)
			require.NoError(t, err)
			require.NoError(t, c.(*net.TCPConn).CloseWrite())
			got, _ := io.ReadAll(c)
			assert.Contains(t, string(got), "GET /ws HTTP/1.1", name)
		} else {
			go func() { _, _ = io.WriteString(c, raw); _ = c.(*net.TCPConn).CloseWrite() }()
			got, err := io.ReadAll(c)
			require.NoError(t, err, name)
			assert.Equal(t, raw, string(got), name)
		}
		c.Close()
		p.Close()
	}
}
