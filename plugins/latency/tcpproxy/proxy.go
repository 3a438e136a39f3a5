// Package tcpproxy is chaosctl's userspace TCP fault proxy: it forwards
// listen -> upstream and, while toxics are set, delays (with jitter, per
// chunk, pipelined so the delay does not pile up), caps bandwidth,
// black-holes or resets the traffic, per direction. With no toxic active it
// forwards with splice(2) (io.Copy between TCP connections), so a proxy left
// in the path between faults costs almost nothing.
//
// While the route has an HTTP toxic (http_abort, http_delay, http_header;
// http.go), new connections are parsed as HTTP/1.1 instead, and requests
// not matched pass through byte for byte.
//
// Toxics are set through a small HTTP control API (control.go), which the
// latency fault plugin drives; the proxy runs as `chaosctl proxy`.
package tcpproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Directions of traffic through the proxy.
const (
	Upstream   = "upstream"   // client -> upstream
	Downstream = "downstream" // upstream -> client
	Both       = "both"
)

// Toxic kinds.
const (
	KindLatency   = "latency"   // Delay +- Jitter per chunk
	KindBandwidth = "bandwidth" // Rate bytes per second
	KindBlackhole = "blackhole" // data is read and dropped
	KindReset     = "reset"     // connections are reset (RST), new ones too
)

// Toxic is one fault on the proxy.
type Toxic struct {
	ID        string        `json:"id"`
	Kind      string        `json:"kind"`
	Direction string        `json:"direction"`
	Delay     time.Duration `json:"delay,omitempty"`
	Jitter    time.Duration `json:"jitter,omitempty"`
	Rate      int64         `json:"rate,omitempty"` // bytes per second

	// L7 (HTTP) toxics only: which requests, and what is done to them.
	Match         *HTTPMatch        `json:"match,omitempty"`
	Status        int               `json:"status,omitempty"`         // http_abort
	Body          string            `json:"body,omitempty"`           // http_abort
	SetHeaders    map[string]string `json:"set_headers,omitempty"`    // http_header
	RemoveHeaders []string          `json:"remove_headers,omitempty"` // http_header
}

// ErrInvalidToxic wraps every reason a toxic is refused.
var ErrInvalidToxic = errors.New("invalid toxic")

// Check reports what is wrong with t.
func (t Toxic) Check() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: %s", ErrInvalidToxic, fmt.Sprintf(f, a...)) }
	if IsHTTP(t.Kind) {
		return t.checkHTTP()
	}
	if t.Match != nil || t.Status != 0 || t.Body != "" || len(t.SetHeaders)+len(t.RemoveHeaders) > 0 {
		return bad("%s is a TCP toxic: match, status, body and headers are for http_* toxics", t.Kind)
	}
	switch t.Direction {
	case Upstream, Downstream, Both:
	default:
		return bad("direction %q: want upstream, downstream or both", t.Direction)
	}
	switch t.Kind {
	case KindLatency:
		if t.Delay < 0 || t.Jitter < 0 || t.Delay+t.Jitter == 0 {
			return bad("latency needs delay > 0 (and jitter >= 0)")
		}
		if t.Jitter > t.Delay {
			return bad("jitter %s larger than delay %s", t.Jitter, t.Delay)
		}
	case KindBandwidth:
		if t.Rate <= 0 {
			return bad("bandwidth needs rate > 0 bytes/s")
		}
	case KindBlackhole, KindReset:
	default:
		return bad("kind %q: want latency, bandwidth, blackhole, reset, http_abort, http_delay or http_header", t.Kind)
	}
	return nil
}

func (t Toxic) applies(dir string) bool { return t.Direction == Both || t.Direction == dir }

// effect is the merged toxics of one direction.
type effect struct {
	delay, jitter time.Duration
	rate          int64
	blackhole     bool
}

func (e effect) none() bool { return e == effect{} }

// Proxy forwards one listener to one upstream address.
type Proxy struct {
	Listen   string
	Upstream string

	ln     net.Listener
	mu     sync.Mutex
	toxics []Toxic
	up     atomic.Pointer[effect] // client -> upstream
	down   atomic.Pointer[effect] // upstream -> client
	reset  atomic.Bool
	l7     atomic.Pointer[[]l7rule] // nil: no L7 toxic, TCP only
	quit   chan struct{}            // closed by Close
	gen    atomic.Uint64            // bumped by every toxic change
	conns  map[*link]struct{}
	wg     sync.WaitGroup
	closed atomic.Bool

	dialer net.Dialer
}

type link struct {
	client, server *net.TCPConn
	// seenUp and seenDown are the last toxic generation each pump has
	// switched to (math.MaxUint64 once it has ended).
	seenUp, seenDown atomic.Uint64
	http             bool         // served by serveHTTP, not by the pumps
	last             atomic.Int64 // handoff: stamp() of the last bytes moved
}

// New returns a proxy that is not listening yet.
func New(listen, upstream string) *Proxy {
	p := &Proxy{Listen: listen, Upstream: upstream, conns: map[*link]struct{}{}, quit: make(chan struct{})}
	p.up.Store(&effect{})
	p.down.Store(&effect{})
	p.dialer.Timeout = 5 * time.Second
	return p
}

// Start listens and serves in the background.
func (p *Proxy) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", p.Listen)
	if err != nil {
		return fmt.Errorf("proxy listen: %w", err)
	}
	p.ln = ln
	p.Listen = ln.Addr().String()
	p.wg.Add(1)
	go p.serve()
	return nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string { return p.Listen }

// Close stops listening and closes every connection.
func (p *Proxy) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	err := p.ln.Close()
	close(p.quit)
	p.mu.Lock()
	for l := range p.conns {
		l.client.Close()
		l.server.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if p.closed.Load() {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and friends
			continue
		}
		p.wg.Add(1)
		go p.handle(c.(*net.TCPConn))
	}
}

func (p *Proxy) handle(client *net.TCPConn) {
	defer p.wg.Done()
	if p.reset.Load() {
		resetConn(client)
		return
	}
	sc, err := p.dialer.Dial("tcp", p.Upstream)
	if err != nil {
		resetConn(client) // the client sees the upstream as down
		return
	}
	l := &link{client: client, server: sc.(*net.TCPConn), http: p.l7.Load() != nil}
	if l.http {
		l.seenUp.Store(math.MaxUint64)
		l.seenDown.Store(math.MaxUint64)
	}
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		client.Close()
		sc.Close()
		return
	}
	p.conns[l] = struct{}{}
	p.mu.Unlock()
	if l.http {
		p.serveHTTP(l)
	} else {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); p.pump(l, true, &p.up, &l.seenUp, l.client, l.server) }()
		go func() { defer wg.Done(); p.pump(l, false, &p.down, &l.seenDown, l.server, l.client) }()
		wg.Wait()
	}
	l.client.Close()
	l.server.Close()
	p.mu.Lock()
	delete(p.conns, l)
	p.mu.Unlock()
}

func resetConn(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}

// pump copies src to dst for one direction until src ends, switching
// between the splice fast path (no toxic) and the toxic path whenever the
// direction's effect changes (SetToxics interrupts blocked reads). While
// the route has an L7 toxic it forwards by handoff, which closes the link
// once quiet.
func (p *Proxy) pump(l *link, up bool, eff *atomic.Pointer[effect], seen *atomic.Uint64, src, dst *net.TCPConn) {
	defer func() {
		seen.Store(math.MaxUint64)
		_ = dst.CloseWrite()
	}()
	for {
		g := p.gen.Load() // before the effect: the effect is at least that new
		e := eff.Load()
		seen.Store(g)
		var err error
		if p.l7.Load() != nil {
			err = p.handoff(l, up, seen, src, dst)
			if err == nil {
				continue // no L7 toxic left
			}
		} else if e.none() {
			_, err = dst.ReadFrom(src) // splice(2) between TCP sockets on Linux
			if err == nil {
				return // EOF
			}
		} else {
			err = p.slow(eff, e, src, dst)
			if err == nil {
				continue // the effect changed
			}
		}
		if isTimeout(err) && !p.closed.Load() {
			_ = src.SetReadDeadline(time.Time{})
			continue
		}
		if errors.Is(err, io.EOF) {
			return
		}
		return // reset, closed, broken
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

type chunk struct {
	b   []byte
	due time.Time
}

// slow forwards with effect e until the direction's effect changes (nil),
// or src ends or fails (the error; io.EOF at the end).
func (p *Proxy) slow(eff *atomic.Pointer[effect], e *effect, src, dst *net.TCPConn) error {
	size := 32 << 10
	if e.rate > 0 {
		size = int(max(512, min(int64(size), e.rate/50))) // ~20 ms of data per chunk
	}
	q := make(chan chunk, 256)
	werr := make(chan error, 1)
	go func() { werr <- writer(q, dst, e.rate) }()
	var last time.Time
	var rerr error
	for {
		b := make([]byte, size)
		n, err := src.Read(b)
		cur := eff.Load()
		if n > 0 && cur != e {
			// The effect changed while this chunk was being read: it is
			// judged by the new one (after what is queued, to keep order).
			if !cur.blackhole {
				due := time.Now()
				if due.Before(last) {
					due = last
				}
				q <- chunk{b: b[:n], due: due}
			}
			n = 0
			if err == nil || isTimeout(err) {
				_ = src.SetReadDeadline(time.Time{})
				err = nil
				break
			}
		}
		if n > 0 && !e.blackhole {
			due := time.Now()
			if e.delay > 0 || e.jitter > 0 {
				d := e.delay
				if e.jitter > 0 {
					d += time.Duration(rand.Int64N(int64(2*e.jitter)+1)) - e.jitter
				}
				due = due.Add(d)
				if due.Before(last) { // keep the stream in order
					due = last
				}
			}
			last = due
			q <- chunk{b: b[:n], due: due}
		}
		if err != nil {
			if isTimeout(err) && eff.Load() != e {
				_ = src.SetReadDeadline(time.Time{})
				err = nil // switch
			}
			rerr = err
			break
		}
		if eff.Load() != e {
			break
		}
	}
	close(q)
	if err := <-werr; err != nil && rerr == nil {
		rerr = err
	}
	return rerr
}

// writer writes queued chunks at their due time, at most rate bytes/s.
func writer(q <-chan chunk, dst *net.TCPConn, rate int64) error {
	var failed error
	var next time.Time
	for c := range q {
		if failed != nil {
			continue // drain
		}
		at := c.due
		if rate > 0 && next.After(at) {
			at = next
		}
		sleepUntil(at)
		if _, err := dst.Write(c.b); err != nil {
			failed = err
		}
		if rate > 0 {
			start := time.Now()
			if at.After(start) {
				start = at
			}
			next = start.Add(time.Duration(int64(len(c.b)) * int64(time.Second) / rate))
		}
	}
	return failed
}

// sleepUntil sleeps to t; the last stretch spins on the scheduler so short
// delays stay accurate to well under a millisecond.
func sleepUntil(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	if d -= 200 * time.Microsecond; d > 0 {
		time.Sleep(d)
	}
	for time.Now().Before(t) {
		runtimeGosched()
	}
}

// Toxics lists the active toxics.
func (p *Proxy) Toxics() []Toxic {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Toxic(nil), p.toxics...)
}

// ErrNoToxic: no toxic has that id.
var ErrNoToxic = errors.New("no such toxic")

// ErrDuplicate: a toxic with that id exists.
var ErrDuplicate = errors.New("toxic id already in use")

// ErrConflict: HTTP toxics and the TCP toxics that shape the byte stream
// (latency, bandwidth, blackhole) do not mix on one route: connections
// parsed as HTTP do not go through the TCP path.
var ErrConflict = errors.New("http_* toxics and latency, bandwidth or blackhole toxics cannot be active together")

func shapesStream(kind string) bool {
	return kind == KindLatency || kind == KindBandwidth || kind == KindBlackhole
}

// AddToxic activates t. A reset toxic resets every open connection.
func (p *Proxy) AddToxic(t Toxic) error {
	if err := t.Check(); err != nil {
		return err
	}
	p.mu.Lock()
	for _, x := range p.toxics {
		if x.ID == t.ID {
			p.mu.Unlock()
			return fmt.Errorf("%w: %q", ErrDuplicate, t.ID)
		}
		if (IsHTTP(t.Kind) && shapesStream(x.Kind)) || (IsHTTP(x.Kind) && shapesStream(t.Kind)) {
			p.mu.Unlock()
			return fmt.Errorf("%w: %s is active (%s)", ErrConflict, x.Kind, x.ID)
		}
	}
	p.toxics = append(p.toxics, t)
	p.apply()
	p.mu.Unlock()
	return nil
}

// RemoveToxic deactivates the toxic id.
func (p *Proxy) RemoveToxic(id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.toxics {
		if x.ID == id {
			p.toxics = append(p.toxics[:i], p.toxics[i+1:]...)
			p.apply()
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrNoToxic, id)
}

// apply recomputes the effects and wakes every pump. Call with p.mu held.
func (p *Proxy) apply() {
	var up, down effect
	reset := false
	var rules []l7rule
	for _, t := range p.toxics {
		if IsHTTP(t.Kind) {
			m, _ := t.Match.compile() // checked by AddToxic
			rules = append(rules, l7rule{t: t, m: m})
			continue
		}
		for dir, e := range map[string]*effect{Upstream: &up, Downstream: &down} {
			if !t.applies(dir) {
				continue
			}
			switch t.Kind {
			case KindLatency:
				e.delay += t.Delay
				e.jitter += t.Jitter
			case KindBandwidth:
				if e.rate == 0 || t.Rate < e.rate {
					e.rate = t.Rate
				}
			case KindBlackhole:
				e.blackhole = true
			}
		}
		if t.Kind == KindReset {
			reset = true
		}
	}
	p.up.Store(&up)
	p.down.Store(&down)
	p.reset.Store(reset)
	if rules == nil {
		p.l7.Store(nil)
	} else {
		p.l7.Store(&rules)
	}
	g := p.gen.Add(1)
	now := time.Now()
	for l := range p.conns {
		if reset {
			resetConn(l.client)
			resetConn(l.server)
			continue
		}
		if l.http {
			continue // reads the rules per request
		}
		_ = l.client.SetReadDeadline(now)
		_ = l.server.SetReadDeadline(now)
	}
	// Return only once every pump has left the path it was in: a read
	// woken by data rather than by the deadline could otherwise forward
	// bytes sent after the change under the old effect.
	deadline := now.Add(2 * time.Second)
	for l := range p.conns {
		for (l.seenUp.Load() < g || l.seenDown.Load() < g) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Microsecond)
		}
	}
}
