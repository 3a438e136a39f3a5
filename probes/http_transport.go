package probes

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// maxIdlePerHost is how many keep-alive connections a prober keeps per host.
const maxIdlePerHost = 4

// checkIdleAfter is how long a pooled connection may sit idle before it is
// checked for a close from the server before reuse. Servers keep idle
// connections for seconds (Node.js and Apache 5 s, nginx 75 s), and the
// check costs a system call, a sixth of an attempt's CPU, so a probe
// running every few hundred milliseconds skips it.
const checkIdleAfter = 500 * time.Millisecond

// syncTransport is the http prober's HTTP/1.1 transport. It does what
// http.Transport does for a probe (keep-alive pool, TLS, dial, write and
// read under the request's context) but runs each exchange in the calling
// goroutine: http.Transport hands every request to a per-connection write
// goroutine and gets the response back from a read goroutine, and those
// hand-offs were most of the CPU cost of probing at 10 Hz. The wire format
// is net/http's own (Request.Write, ReadResponse), and the http.Client on
// top still does redirects, CheckRedirect, Host and URL credentials.
//
// Requests that go through a proxy (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) are
// handed unchanged to std, an http.Transport.
type syncTransport struct {
	tlsConfig *tls.Config // nil: crypto/tls defaults
	dialer    net.Dialer
	proxy     func(*http.Request) (*url.URL, error)
	std       *http.Transport

	mu     sync.Mutex
	idle   map[connKey][]*persistConn // most recent last
	closed bool
}

var _ http.RoundTripper = (*syncTransport)(nil)

func newSyncTransport(tlsConfig *tls.Config) *syncTransport {
	std := http.DefaultTransport.(*http.Transport).Clone()
	std.MaxIdleConnsPerHost = maxIdlePerHost
	std.TLSClientConfig = tlsConfig
	return &syncTransport{
		tlsConfig: tlsConfig,
		// As http.DefaultTransport's dialer.
		dialer: net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
		proxy:  http.ProxyFromEnvironment,
		std:    std,
	}
}

// connKey is what a pooled connection can serve: a scheme and a URL host.
type connKey struct{ scheme, host string }

// persistConn is one connection with its buffers.
type persistConn struct {
	conn net.Conn // *net.TCPConn or *tls.Conn over one
	raw  syscall.RawConn
	br   *bufio.Reader
	bw   *bufio.Writer
	key  connKey
	idle time.Time // when it went back to the pool
}

// aLongTimeAgo is a deadline that makes pending I/O on a conn fail at once.
var aLongTimeAgo = time.Unix(1, 0)

// RoundTrip sends req on an idle or new connection and reads the response
// head; the connection goes back to the pool when the body has been read
// to its end and closed.
func (t *syncTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return t.std.RoundTrip(req)
	}
	if u, err := t.proxy(req); err != nil || u != nil {
		return t.std.RoundTrip(req)
	}
	return t.roundTrip(req.Context(), req, nil)
}

// render returns req as the transport would write it, with credentials
// from the URL as http.Client adds them, for roundTrip to send again and
// again; nil when req must go through http.Client and RoundTrip: a method
// that may not be repeated (roundTrip's caller repeats it to follow a
// redirect) or a proxy.
func (t *syncTransport) render(req *http.Request) ([]byte, error) {
	if !replayable(req) || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
		return nil, nil
	}
	if u, err := t.proxy(req); err != nil || u != nil {
		return nil, nil //nolint:nilerr // a bad proxy setting is for http.Transport to report
	}
	r := req.Clone(context.Background())
	if u := r.URL.User; u != nil && r.Header.Get("Authorization") == "" {
		pw, _ := u.Password()
		r.SetBasicAuth(u.Username(), pw)
	}
	if r.GetBody != nil {
		var err error
		if r.Body, err = r.GetBody(); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// roundTrip sends req, or wire when not nil (req as render made it), and
// reads the response to req under ctx.
func (t *syncTransport) roundTrip(ctx context.Context, req *http.Request, wire []byte) (*http.Response, error) {
	for retried := false; ; retried = true {
		pc, reused, err := t.getConn(ctx, req.URL)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, err := t.exchange(ctx, pc, req, wire)
		if err == nil || !reused || retried || !replayable(req) || !closedIdle(err) || ctx.Err() != nil {
			return resp, err
		}
		// The server closed the kept-alive connection as we sent on it
		// (as http.Transport does, retry once, on a new connection).
		if wire == nil && req.Body != nil && req.Body != http.NoBody {
			r2 := *req
			if r2.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
			req = &r2
		}
	}
}

// exchange writes req (or wire) and reads the response head on pc. On
// error pc is closed.
func (t *syncTransport) exchange(ctx context.Context, pc *persistConn, req *http.Request, wire []byte) (*http.Response, error) {
	// No deadline to set: the pool holds only connections without one, and
	// ending ctx (its deadline included) makes pending I/O fail at once.
	stop := context.AfterFunc(ctx, func() { _ = pc.conn.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = pc.conn.Close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	var err error
	if wire != nil {
		_, err = pc.bw.Write(wire)
	} else {
		err = req.Write(pc.bw)
	}
	if err == nil {
		err = pc.bw.Flush()
	}
	if err != nil {
		return fail(err)
	}
	// Nothing at all back (end of stream, reset) is how a kept-alive
	// connection the server had closed fails: see closedIdle.
	if _, err := pc.br.Peek(1); err != nil {
		return fail(err)
	}
	for {
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			return fail(err)
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue // informational (100 Continue, 103 Early Hints): the real one follows
		}
		b := &bodyReader{rc: resp.Body, t: t, pc: pc, ctx: ctx, stop: stop}
		b.keep = !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols
		b.eof = resp.Body == http.NoBody
		resp.Body = b
		return resp, nil
	}
}

// bodyReader returns its connection to the pool on Close when the body
// was read to its end and nothing ended the request's context.
type bodyReader struct {
	rc     io.ReadCloser
	t      *syncTransport
	pc     *persistConn
	ctx    context.Context
	stop   func() bool
	keep   bool
	eof    bool
	closed bool
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	} else if err != nil {
		if cerr := b.ctx.Err(); cerr != nil {
			err = cerr // "i/o timeout" from the cancelled deadline says less
		}
	}
	return n, err
}

func (b *bodyReader) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	_ = b.rc.Close()
	if b.stop() && b.eof && b.keep {
		b.t.putConn(b.pc)
	} else {
		_ = b.pc.conn.Close()
	}
	return nil
}

// getConn returns a live idle connection to u's host, or dials one.
func (t *syncTransport) getConn(ctx context.Context, u *url.URL) (pc *persistConn, reused bool, err error) {
	key := connKey{u.Scheme, u.Host}
	for {
		t.mu.Lock()
		conns := t.idle[key]
		if len(conns) == 0 {
			t.mu.Unlock()
			break
		}
		pc = conns[len(conns)-1]
		conns[len(conns)-1] = nil
		t.idle[key] = conns[:len(conns)-1]
		t.mu.Unlock()
		if time.Since(pc.idle) < checkIdleAfter || pc.alive() {
			return pc, true, nil
		}
		_ = pc.conn.Close()
	}
	pc, err = t.dial(ctx, u, key)
	return pc, false, err
}

func (t *syncTransport) dial(ctx context.Context, u *url.URL, key connKey) (*persistConn, error) {
	conn, err := t.dialer.DialContext(ctx, "tcp", canonicalAddr(u))
	if err != nil {
		return nil, err
	}
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("dial: not a TCP connection")
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if u.Scheme == "https" {
		cfg := t.tlsConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname() // as http.Transport: the URL's host, not a Host header
		}
		cfg.NextProtos = nil // HTTP/1.1 only
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, err
		}
		conn = tc
	}
	return &persistConn{
		conn: conn,
		raw:  raw,
		br:   bufio.NewReaderSize(conn, 4<<10),
		bw:   bufio.NewWriterSize(conn, 4<<10),
		key:  key,
	}, nil
}

func (t *syncTransport) putConn(pc *persistConn) {
	t.mu.Lock()
	if t.closed || len(t.idle[pc.key]) >= maxIdlePerHost || pc.br.Buffered() > 0 {
		t.mu.Unlock()
		_ = pc.conn.Close()
		return
	}
	if t.idle == nil {
		t.idle = map[connKey][]*persistConn{}
	}
	pc.idle = time.Now()
	t.idle[pc.key] = append(t.idle[pc.key], pc)
	t.mu.Unlock()
}

// CloseIdleConnections closes the pooled connections; connections in use
// are closed when their response body is. http.Client.CloseIdleConnections
// calls it.
func (t *syncTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, conns := range idle {
		for _, pc := range conns {
			_ = pc.conn.Close()
		}
	}
	t.std.CloseIdleConnections()
}

// alive reports whether an idle connection can carry a request: nothing is
// waiting to be read on it, not even the end of stream the server sends
// when it drops a kept-alive connection (http.Transport learns this from
// its read goroutine; here one non-blocking peek does).
func (pc *persistConn) alive() bool {
	var buf [1]byte
	var n int
	var err error
	if cerr := pc.raw.Read(func(fd uintptr) bool {
		n, _, err = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	}); cerr != nil {
		return false
	}
	return n < 0 && errors.Is(err, syscall.EAGAIN)
}

// closedIdle reports whether err is what a kept-alive connection that the
// server had already closed gives: end of stream before any response byte
// (io.EOF only comes from exchange's first read), or a reset.
func closedIdle(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// replayable reports whether req may be sent twice, by http.Transport's rule.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// canonicalAddr is u's host:port, with the scheme's default port.
func canonicalAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}
