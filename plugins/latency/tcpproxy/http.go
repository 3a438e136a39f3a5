package tcpproxy

// HTTP/1.1 toxics (L7): http_abort, http_delay, http_header.
//
// A route (a proxy) parses HTTP only while it has an L7 toxic: a
// connection accepted then is served by serveHTTP for its life; every
// other connection is forwarded as TCP (splice), so a route without L7
// toxics costs what it did.
//
// Parsing is net/http's own (http.ReadRequest, http.ReadResponse), used
// only to decide and to find where each message ends. What is forwarded
// is the bytes that were read, not a re-serialisation: a tap under each
// bufio.Reader records every byte read from the socket, and once the
// parser has consumed a message (headers, body, chunk framing, trailers),
// exactly those bytes are written on (tapped.forward). Re-writing the
// request with req.Write would change header order and case, chunk sizes,
// and drop what net/http does not keep; the tap makes "a request not
// matched passes through untouched" true by construction. Only the
// messages a toxic acts on change: an aborted request is dropped and
// answered by the proxy, a response whose headers are rewritten is
// re-serialised with resp.Write.
//
// Pipelining: requests are read in order and each leaves a pending entry
// in a FIFO; the response side answers the entries in that order, reading
// one upstream response per forwarded request (http.ReadResponse with the
// request's method, so HEAD and 1xx are framed right) or writing the
// proxy's own answer for an aborted one. Responses therefore go back in
// request order, whatever the mix.
//
// What is not faulted, and passes through as raw bytes: CONNECT, Upgrade
// (WebSocket, h2c upgrade) and HTTP/2 prior knowledge ("PRI *
// HTTP/2.0"): the connection becomes a plain tunnel from that request on.
// HTTP/2 is not parsed: doing it well means a frame-level proxy
// (golang.org/x/net/http2 framing, HPACK state per direction), which this
// package does not have. A request that does not parse also turns the
// connection into a tunnel, its bytes forwarded as read.
//
// Connections open before the first L7 toxic was added are TCP links
// whose message boundaries are unknown; they are closed as soon as they
// are quiet (the upstream spoke last and nothing moved for quietFor), so
// the client's next request arrives on a new, parsed connection. HTTP
// clients retry a request on a reused connection closed under them
// (net/http does, for idempotent requests). Symmetrically an HTTP link
// closes once idle after the last L7 toxic is removed, and its client
// comes back on a spliced connection. A request whose response takes
// longer than quietFor to start, sent just before the first L7 toxic is
// added, can be cut: that is the price of not parsing HTTP while no L7
// toxic is set.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// L7 toxic kinds.
const (
	KindHTTPAbort  = "http_abort"  // answer Status and Body without forwarding
	KindHTTPDelay  = "http_delay"  // hold the request for Delay before forwarding
	KindHTTPHeader = "http_header" // set or remove headers of the response
)

// IsHTTP reports whether kind is an L7 (HTTP) toxic kind.
func IsHTTP(kind string) bool {
	switch kind {
	case KindHTTPAbort, KindHTTPDelay, KindHTTPHeader:
		return true
	}
	return false
}

// HTTPMatch selects the requests an L7 toxic acts on: every condition
// given must hold, and then Percent of those requests are chosen at random.
type HTTPMatch struct {
	Percent    float64 `json:"percent"`               // (0, 100]
	Method     string  `json:"method,omitempty"`      // exact, e.g. "GET"
	PathPrefix string  `json:"path_prefix,omitempty"` // of the URL path
	PathRegex  string  `json:"path_regex,omitempty"`  // RE2, on the URL path
	Header     string  `json:"header,omitempty"`      // "Name=value": the request header equals value
}

// Errors of CheckMatch, one per field, so callers can name the field.
var (
	ErrPercent   = errors.New("percent must be in (0, 100]")
	ErrMethod    = errors.New("method must be an HTTP token such as GET")
	ErrPathRegex = errors.New("path_regex does not compile")
	ErrHeader    = errors.New(`header must be "Name=value"`)
	ErrStatus    = errors.New("status must be in 100-599")
	ErrHeaderSet = errors.New("set_headers and remove_headers need valid header names")
)

// compiled is a checked HTTPMatch, ready to test requests.
type compiled struct {
	HTTPMatch
	re          *regexp.Regexp
	hname, hval string
}

// Compile checks m and returns its matcher.
func (m HTTPMatch) compile() (*compiled, error) {
	c := &compiled{HTTPMatch: m}
	if !(m.Percent > 0 && m.Percent <= 100) {
		return nil, fmt.Errorf("%w, got %v", ErrPercent, m.Percent)
	}
	if m.Method != "" && !isToken(m.Method) {
		return nil, fmt.Errorf("%w, got %q", ErrMethod, m.Method)
	}
	if m.PathRegex != "" {
		re, err := regexp.Compile(m.PathRegex)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPathRegex, err)
		}
		c.re = re
	}
	if m.Header != "" {
		name, val, ok := strings.Cut(m.Header, "=")
		name = strings.TrimSpace(name)
		if !ok || !isToken(name) {
			return nil, fmt.Errorf("%w, got %q", ErrHeader, m.Header)
		}
		c.hname, c.hval = http.CanonicalHeaderKey(name), strings.TrimSpace(val)
	}
	return c, nil
}

// CheckMatch reports what is wrong with m (an error wrapping one of ErrPercent,
// ErrMethod, ErrPathRegex, ErrHeader).
func CheckMatch(m HTTPMatch) error {
	_, err := m.compile()
	return err
}

// matches reports whether req meets every condition (not the percentage).
func (c *compiled) matches(req *http.Request) bool {
	if c.Method != "" && req.Method != c.Method {
		return false
	}
	if c.PathPrefix != "" && !strings.HasPrefix(req.URL.Path, c.PathPrefix) {
		return false
	}
	if c.re != nil && !c.re.MatchString(req.URL.Path) {
		return false
	}
	if c.hname != "" && !headerHas(req.Header, c.hname, c.hval) {
		return false
	}
	return true
}

func headerHas(h http.Header, name, val string) bool {
	for _, v := range h.Values(name) {
		if strings.TrimSpace(v) == val {
			return true
		}
	}
	return false
}

// chosen draws the percentage.
func (c *compiled) chosen() bool { return c.Percent >= 100 || rand.Float64()*100 < c.Percent }

// String is the match as a person reads it: "50% of GET /pay*".
func (m HTTPMatch) String() string {
	s := strconv.FormatFloat(m.Percent, 'f', -1, 64) + "% of "
	what := []string{}
	if m.Method != "" {
		what = append(what, m.Method)
	}
	if m.PathPrefix != "" {
		what = append(what, m.PathPrefix+"*")
	}
	if m.PathRegex != "" {
		what = append(what, "~"+m.PathRegex)
	}
	if len(what) == 0 || (len(what) == 1 && m.Method != "") {
		what = append(what, "requests")
	}
	s += strings.Join(what, " ")
	if m.Header != "" {
		s += " with " + m.Header
	}
	return s
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// checkHTTP is Toxic.Check for the L7 kinds.
func (t Toxic) checkHTTP() error {
	bad := func(err error) error { return fmt.Errorf("%w: %w", ErrInvalidToxic, err) }
	if t.Direction != "" && t.Direction != Both {
		return fmt.Errorf("%w: %s acts on requests: direction must be empty", ErrInvalidToxic, t.Kind)
	}
	if t.Match == nil {
		return fmt.Errorf("%w: %s needs a match (percent at least)", ErrInvalidToxic, t.Kind)
	}
	if err := CheckMatch(*t.Match); err != nil {
		return bad(err)
	}
	switch t.Kind {
	case KindHTTPAbort:
		if t.Status < 100 || t.Status > 599 {
			return bad(fmt.Errorf("%w, got %d", ErrStatus, t.Status))
		}
	case KindHTTPDelay:
		if t.Delay <= 0 {
			return fmt.Errorf("%w: http_delay needs delay > 0", ErrInvalidToxic)
		}
	case KindHTTPHeader:
		if len(t.SetHeaders)+len(t.RemoveHeaders) == 0 {
			return fmt.Errorf("%w: http_header needs set_headers or remove_headers", ErrInvalidToxic)
		}
		for k, v := range t.SetHeaders {
			if !isToken(k) || strings.ContainsAny(v, "\r\n") {
				return bad(fmt.Errorf("%w, got %q", ErrHeaderSet, k))
			}
		}
		for _, k := range t.RemoveHeaders {
			if !isToken(k) {
				return bad(fmt.Errorf("%w, got %q", ErrHeaderSet, k))
			}
		}
	}
	return nil
}

// l7rule is an active L7 toxic, compiled.
type l7rule struct {
	t Toxic
	m *compiled
}

// decision is what the L7 toxics do to one request.
type decision struct {
	abort *Toxic
	delay time.Duration
	edit  []*Toxic // http_header toxics, applied in order
}

func decide(rules []l7rule, req *http.Request) decision {
	var d decision
	for i := range rules {
		r := &rules[i]
		if !r.m.matches(req) || !r.m.chosen() {
			continue
		}
		switch r.t.Kind {
		case KindHTTPAbort:
			if d.abort == nil {
				d.abort = &r.t
			}
		case KindHTTPDelay:
			d.delay += r.t.Delay
		case KindHTTPHeader:
			d.edit = append(d.edit, &r.t)
		}
	}
	return d
}

// tap records every byte read through it (until off).
type tap struct {
	r   io.Reader
	buf []byte
	off bool
}

func (t *tap) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	if !t.off {
		t.buf = append(t.buf, b[:n]...)
	}
	return n, err
}

// tapped is a bufio.Reader for net/http's parser over a tap: the bytes the
// parser has consumed are the tap's record less what is still buffered.
type tapped struct {
	t  *tap
	br *bufio.Reader
}

func newTapped(r io.Reader) *tapped {
	t := &tap{r: r}
	return &tapped{t: t, br: bufio.NewReaderSize(t, 16<<10)}
}

// forward writes the bytes consumed since the last forward to w (drops
// them when w is nil).
func (x *tapped) forward(w io.Writer) error {
	n := len(x.t.buf) - x.br.Buffered()
	var err error
	if n > 0 && w != nil {
		_, err = w.Write(x.t.buf[:n])
	}
	x.t.buf = x.t.buf[:copy(x.t.buf, x.t.buf[n:])]
	return err
}

// pass reads body to its end, forwarding its raw bytes (framing included)
// to w as they are consumed (dropping them when w is nil).
func (x *tapped) pass(body io.Reader, w io.Writer) error {
	buf := make([]byte, 32<<10)
	for {
		_, err := body.Read(buf)
		if ferr := x.forward(w); ferr != nil {
			return ferr
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// tunnel forwards what was consumed, then everything else as raw bytes.
func (x *tapped) tunnel(w io.Writer) error {
	if err := x.forward(w); err != nil {
		return err
	}
	x.t.off, x.t.buf = true, nil
	_, err := io.Copy(w, x.br)
	return err
}

// pending is one answer the response side owes the client, in order.
type pending struct {
	method    string   // of the forwarded request: frames the upstream response
	edit      []*Toxic // rewrite the upstream response's headers
	synthetic []byte   // the proxy's own answer (an aborted request)
	close     bool     // close the connection after this answer
	tunnel    bool     // after this answer (or at once, with no method), raw bytes
}

const (
	quietFor  = 50 * time.Millisecond  // a TCP link this quiet is closed to be re-opened as HTTP
	idlePoll  = 100 * time.Millisecond // how often an idle HTTP link checks whether L7 is still on
	maxQueued = 64                     // pipelined requests read ahead of their responses
)

var errIdleClose = errors.New("idle HTTP link closed: no L7 toxic left")

// httpConn is one client connection on a route with L7 toxics.
type httpConn struct {
	p       *Proxy
	l       *link
	in, out *tapped
	q       chan pending
	owed    atomic.Int64  // answers queued and not yet written
	done    chan struct{} // the response side has ended
	dead    atomic.Bool   // the response side ended first: stop reading requests
}

// serveHTTP serves l until either side is done.
func (p *Proxy) serveHTTP(l *link) {
	c := &httpConn{p: p, l: l, in: newTapped(l.client), out: newTapped(l.server),
		q: make(chan pending, maxQueued), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.respond()
	}()
	if !c.requests() {
		_ = l.server.CloseWrite()
	}
	close(c.q)
	<-c.done
}

// send queues an answer the client is owed (false: nobody will write it).
func (c *httpConn) send(pd pending) bool {
	c.owed.Add(1)
	select {
	case c.q <- pd:
		return true
	case <-c.done:
		return false
	}
}

// requests reads the client's requests and acts on each. It returns true
// when the connection became a tunnel (and the client's side is done).
func (c *httpConn) requests() bool {
	l, in := c.l, c.in
	for {
		if err := c.awaitRequest(); err != nil {
			return false
		}
		req, err := http.ReadRequest(in.br)
		if err != nil {
			// Not a request net/http can parse: forward it as it came.
			if c.send(pending{tunnel: true}) {
				_ = in.tunnel(l.server)
			}
			_ = l.server.CloseWrite()
			return true
		}
		if req.Method == http.MethodConnect || req.Header.Get("Upgrade") != "" || req.ProtoMajor >= 2 {
			pd := pending{method: req.Method, tunnel: true}
			if req.ProtoMajor >= 2 { // HTTP/2 preface: raw from its first byte
				pd.method = ""
			}
			if c.send(pd) {
				_ = in.tunnel(l.server)
			}
			_ = l.server.CloseWrite()
			return true
		}
		d := decide(c.p.rules(), req)
		if d.abort != nil {
			// Answer now; the body (still to be read) is dropped. A client
			// waiting for 100 Continue will not send it: close after.
			closeAfter := req.Close || (req.Header.Get("Expect") != "" && req.ContentLength != 0)
			if !c.send(pending{synthetic: abortResponse(d.abort, req, closeAfter), close: closeAfter}) {
				return false
			}
			_ = in.forward(nil)
			if closeAfter || in.pass(req.Body, nil) != nil {
				return false
			}
			continue
		}
		if d.delay > 0 && !c.p.sleep(d.delay) {
			return false
		}
		if !c.send(pending{method: req.Method, edit: d.edit}) {
			return false
		}
		if in.forward(l.server) != nil || in.pass(req.Body, l.server) != nil {
			return false
		}
		if req.Close {
			return false
		}
	}
}

// awaitRequest waits for the first byte of the next request. While idle,
// it checks every idlePoll whether the route still has an L7 toxic; once
// it has none and no answer is owed, the link closes (errIdleClose) so
// that the client reconnects to the TCP fast path.
func (c *httpConn) awaitRequest() error {
	if c.in.br.Buffered() > 0 {
		return nil
	}
	for {
		if c.dead.Load() {
			return net.ErrClosed
		}
		_ = c.l.client.SetReadDeadline(time.Now().Add(idlePoll))
		_, err := c.in.br.Peek(1)
		if err == nil {
			if !c.dead.Load() {
				_ = c.l.client.SetReadDeadline(time.Time{})
			}
			return nil
		}
		if !isTimeout(err) || c.p.closed.Load() {
			return err
		}
		if c.p.rules() == nil && c.owed.Load() == 0 {
			return errIdleClose
		}
	}
}

// sleep waits d, or until the proxy closes (false).
func (p *Proxy) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.quit:
		return false
	}
}

// respond writes the answers the client is owed, in request order.
func (c *httpConn) respond() {
	l, out := c.l, c.out
	tunnel := false
	defer func() {
		_ = l.client.CloseWrite()
		if !tunnel {
			// The upstream is done with this connection: so is the client's
			// side (a pipelined request left unread is not answered, as
			// with no proxy).
			c.dead.Store(true)
			_ = l.client.SetReadDeadline(time.Now())
		}
	}()
	for pd := range c.q {
		ok := true
		switch {
		case pd.synthetic != nil:
			_, err := l.client.Write(pd.synthetic)
			ok = err == nil && !pd.close
		case pd.tunnel && pd.method == "":
			tunnel = true
			_ = out.tunnel(l.client)
			return
		default:
			var closed bool
			closed, ok = relay(l, out, pd)
			if ok && (pd.tunnel || closed) {
				if pd.tunnel {
					tunnel = true
					_ = out.tunnel(l.client)
				}
				return
			}
		}
		c.owed.Add(-1)
		if !ok {
			return
		}
	}
}

// relay reads one upstream response (and any 1xx before it) and writes it
// to the client: its own bytes, or re-serialised with its headers edited.
// closed: the upstream said it closes the connection after it.
func relay(l *link, out *tapped, pd pending) (closed, ok bool) {
	for {
		resp, err := http.ReadResponse(out.br, &http.Request{Method: pd.method})
		if err != nil {
			// The upstream closed, or sent what net/http cannot parse:
			// whatever it sent goes to the client as it came.
			_ = out.tunnel(l.client)
			return true, false
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			if out.forward(l.client) != nil {
				return false, false
			}
			continue // 100 Continue, 103 Early Hints: the final answer follows
		}
		if len(pd.edit) > 0 && resp.StatusCode != http.StatusSwitchingProtocols {
			for _, t := range pd.edit {
				for _, k := range t.RemoveHeaders {
					resp.Header.Del(k)
				}
				for k, v := range t.SetHeaders {
					resp.Header.Set(k, v)
				}
			}
			_ = out.forward(nil)
			body := resp.Body
			resp.Body = io.NopCloser(&dropping{out: out, r: body})
			err = resp.Write(l.client)
			_ = out.forward(nil)
		} else {
			err = out.forward(l.client)
			if err == nil {
				err = out.pass(resp.Body, l.client)
			}
		}
		return resp.Close, err == nil
	}
}

// dropping reads a response body for resp.Write, dropping the raw bytes
// it consumes from the tap as it goes (they are re-serialised instead).
type dropping struct {
	out *tapped
	r   io.Reader
}

func (d *dropping) Read(b []byte) (int, error) {
	n, err := d.r.Read(b)
	_ = d.out.forward(nil)
	return n, err
}

// abortResponse is the proxy's answer to an aborted request.
func abortResponse(t *Toxic, req *http.Request, closeAfter bool) []byte {
	resp := &http.Response{
		StatusCode: t.Status, ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"X-Chaosctl-Fault": {t.ID}},
		ContentLength: int64(len(t.Body)),
		Body:          io.NopCloser(strings.NewReader(t.Body)),
		Close:         closeAfter,
		Request:       req,
	}
	if t.Body != "" {
		resp.Header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	var b bytes.Buffer
	_ = resp.Write(&b)
	return b.Bytes()
}

// rules are the route's active L7 toxics (nil: none).
func (p *Proxy) rules() []l7rule {
	if r := p.l7.Load(); r != nil {
		return *r
	}
	return nil
}

// handoff forwards a TCP link opened before the route had an L7 toxic,
// without splice so it can tell when the link is quiet, and closes it
// then (see the package doc). It returns nil once the route has no L7
// toxic left (the pump goes back to splice).
func (p *Proxy) handoff(l *link, up bool, seen *atomic.Uint64, src, dst *net.TCPConn) error {
	l.last.CompareAndSwap(0, stamp(false))
	buf := make([]byte, 32<<10)
	defer func() { _ = src.SetReadDeadline(time.Time{}) }()
	for p.rules() != nil {
		seen.Store(p.gen.Load())
		_ = src.SetReadDeadline(time.Now().Add(quietFor / 2))
		n, err := src.Read(buf)
		if n > 0 {
			l.last.Store(stamp(up))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil && !isTimeout(err) {
			return err
		}
		if last := l.last.Load(); last&1 == 0 && time.Since(time.Unix(0, last>>1)) >= quietFor {
			// The upstream spoke last and all is quiet: no request is
			// waiting for its answer.
			_ = l.client.Close()
			_ = l.server.Close()
			return net.ErrClosed
		}
	}
	return nil
}

// stamp packs the time and the direction of the last bytes a link moved.
func stamp(up bool) int64 {
	s := time.Now().UnixNano() << 1
	if up {
		s |= 1
	}
	return s
}
