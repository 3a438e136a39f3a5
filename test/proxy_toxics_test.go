package test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/plugins/latency/tcpproxy"
)

// The timing of the proxy's toxics, measured through the real `chaosctl
// proxy` and its control API (what the latency plugin drives). Its unit
// tests (plugins/latency/tcpproxy) check the same toxics' logic and bytes,
// not their durations.

// proxied is a `chaosctl proxy` in front of a listener of the test's own,
// so that the test holds both ends of every connection through it.
type proxied struct {
	ctl    *tcpproxy.Client
	listen string
	up     net.Listener
}

// chaosProxy runs `chaosctl proxy` in front of upstream (a listener of the
// test's own when "") until the test ends.
func chaosProxy(t *testing.T, upstream string) proxied {
	t.Helper()
	var p proxied
	if upstream == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		p.up, upstream = ln, ln.Addr().String()
	}
	p.listen = freeAddr(t)
	p.ctl = tcpproxy.NewClient(startChaosProxy(t, p.listen, upstream))
	return p
}

// connect opens a connection through the proxy: client is the test's end at
// the proxy, server the end the proxy dialled. Both close with the test.
func (p proxied) connect(t *testing.T) (client, server net.Conn) {
	t.Helper()
	client, err := net.Dial("tcp", p.listen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = p.up.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	for _, c := range []net.Conn{client, server} {
		_ = c.SetDeadline(time.Now().Add(time.Minute))
	}
	return client, server
}

// add sets a toxic on the proxy, or fails the test.
func (p proxied) add(t *testing.T, tx tcpproxy.Toxic) {
	t.Helper()
	if err := p.ctl.Add(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
}

// relay writes msg on from and reads it, exactly, on to.
func relay(t *testing.T, from, to net.Conn, msg []byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { _, err := from.Write(msg); errc <- err }()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(to, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("sent %q (%d bytes), got %q", msg[:min(len(msg), 8)], len(msg), got[:min(len(got), 8)])
	}
}

// roundTrip sends msg from client to server and back, and returns how long that took.
func roundTrip(t *testing.T, client, server net.Conn, msg []byte) time.Duration {
	t.Helper()
	start := time.Now()
	relay(t, client, server, msg)
	relay(t, server, client, msg)
	return time.Since(start)
}

// TestProxyLatencyOnAnOpenConnection: latency toxics reach a connection
// already open (blocked in splice), each in its direction, and leave it
// once removed. (Was plugins/latency/tcpproxy TestLatencyToxicOnAnOpenConnection.)
func TestProxyLatencyOnAnOpenConnection(t *testing.T) {
	p := chaosProxy(t, "")
	client, server := p.connect(t)
	msg := []byte("ping")
	fast := roundTrip(t, client, server, msg) // the connection is in the splice path now

	p.add(t, tcpproxy.Toxic{ID: "lat", Kind: tcpproxy.KindLatency, Direction: tcpproxy.Downstream, Delay: 80 * time.Millisecond})
	if slow := roundTrip(t, client, server, msg); slow < 80*time.Millisecond {
		t.Errorf("round trip %s under an 80ms downstream delay: not applied (before: %s)", slow, fast)
	}
	p.add(t, tcpproxy.Toxic{ID: "lat2", Kind: tcpproxy.KindLatency, Direction: tcpproxy.Upstream, Delay: 40 * time.Millisecond})
	if both := roundTrip(t, client, server, msg); both < 120*time.Millisecond {
		t.Errorf("round trip %s under 80ms down and 40ms up, want >= 120ms", both)
	}

	ctx := context.Background()
	for _, id := range []string{"lat", "lat2"} {
		if err := p.ctl.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip(t, client, server, msg) // may still be in the toxic path for this chunk
	if after := roundTrip(t, client, server, msg); after >= 40*time.Millisecond {
		t.Errorf("round trip %s after the delays were removed, want < 40ms: still applied", after)
	}
	if err := p.ctl.Remove(ctx, "lat"); !errors.Is(err, tcpproxy.ErrNoToxic) {
		t.Errorf("removing a removed toxic: %v, want ErrNoToxic", err)
	}
}

// TestProxyBandwidthCap: 100 KiB at 200 KiB/s takes at least ~0.5s (less
// the first chunk). (Was plugins/latency/tcpproxy TestBandwidthCap.)
func TestProxyBandwidthCap(t *testing.T) {
	p := chaosProxy(t, "")
	p.add(t, tcpproxy.Toxic{ID: "bw", Kind: tcpproxy.KindBandwidth, Direction: tcpproxy.Downstream, Rate: 200 << 10})
	client, server := p.connect(t)
	if d := roundTrip(t, client, server, make([]byte, 100<<10)); d < 400*time.Millisecond {
		t.Errorf("100 KiB came back in %s at 200 KiB/s, want >= 400ms", d)
	}
}

// TestProxyBlackholeThenRestore: a write black-holed upstream does not
// arrive, and once the blackhole is removed the same connection carries
// data again, without it. (Was plugins/latency/tcpproxy TestBlackholeThenRestore.)
func TestProxyBlackholeThenRestore(t *testing.T) {
	p := chaosProxy(t, "")
	client, server := p.connect(t)
	p.add(t, tcpproxy.Toxic{ID: "bh", Kind: tcpproxy.KindBlackhole, Direction: tcpproxy.Upstream})
	if _, err := client.Write([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	_ = server.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := server.Read(make([]byte, 4)); err == nil {
		t.Fatalf("a black-holed write arrived (%d bytes)", n)
	}
	_ = server.SetDeadline(time.Now().Add(time.Minute))
	if err := p.ctl.Remove(context.Background(), "bh"); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, client, server, []byte("back"))
}

// TestProxyHTTPDelay: an http_delay of 150ms holds every request it matches
// at least that long, and no other. (Was plugins/latency/tcpproxy TestHTTPDelay.)
func TestProxyHTTPDelay(t *testing.T) {
	up, _ := paymentProvider(t)
	p := chaosProxy(t, up)
	const delay = 150 * time.Millisecond
	p.add(t, tcpproxy.Toxic{ID: "dl", Kind: tcpproxy.KindHTTPDelay, Delay: delay, Match: &tcpproxy.HTTPMatch{Percent: 100, PathRegex: "^/v1/charges$"}})
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	get := func(path string) time.Duration {
		start := time.Now()
		resp, err := hc.Get("http://" + p.listen + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return time.Since(start)
	}
	for range 5 {
		if d := get("/v1/charges"); d < delay {
			t.Errorf("matched request answered in %s, want >= %s", d, delay)
		}
		if d := get("/v1/health"); d >= delay {
			t.Errorf("an unmatched request took %s: delayed", d)
		}
	}
}
