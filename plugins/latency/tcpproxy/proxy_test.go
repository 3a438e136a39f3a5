package tcpproxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoServer echoes every connection until it closes.
func echoServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func startProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	p := New("127.0.0.1:0", upstream)
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() { p.Close() })
	return p
}

// roundTrip writes msg and reads it back (within 10s: a proxy that lost
// it fails the test rather than hanging it).
func roundTrip(t testing.TB, c net.Conn, msg []byte) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Write(msg)
	require.NoError(t, err)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.Equal(t, msg, got)
}

// echoed writes data on c, closes c's writing side and returns all that
// comes back until the far end closes (at most 10s: a proxy that keeps the
// connection open fails the test rather than hanging it).
func echoed(t testing.TB, c net.Conn, data []byte) []byte {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = c.Write(data); _ = c.(*net.TCPConn).CloseWrite() }()
	got, err := io.ReadAll(c)
	require.NoError(t, err, "the connection did not end")
	return got
}

func TestPassThroughIsExact(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	data := make([]byte, 8<<20)
	_, _ = rand.Read(data)
	assert.True(t, bytes.Equal(data, echoed(t, c, data)), "data changed through the proxy")
}

// switched reports whether every pump of p's connections has taken up the
// last toxic change (left the path it was in).
func switched(p *Proxy) bool {
	g := p.gen.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.conns {
		if l.seenUp.Load() < g || l.seenDown.Load() < g {
			return false
		}
	}
	return len(p.conns) > 0
}

// TestToxicsReachAnOpenConnection: latency toxics added to and removed from
// a connection blocked in splice reach its pumps, each in its direction,
// and the stream stays exact through every switch. How long the delays
// hold is measured in test/ (TestProxyLatencyOnAnOpenConnection).
func TestToxicsReachAnOpenConnection(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	msg := []byte("ping")
	roundTrip(t, c, msg) // the connection is in the splice path now

	require.NoError(t, p.AddToxic(Toxic{ID: "lat", Kind: KindLatency, Direction: Downstream, Delay: 80 * time.Millisecond}))
	assert.True(t, switched(p), "the toxic did not reach the connection blocked in splice")
	assert.Equal(t, effect{delay: 80 * time.Millisecond}, *p.down.Load())
	assert.Equal(t, effect{}, *p.up.Load())
	roundTrip(t, c, msg)

	require.NoError(t, p.AddToxic(Toxic{ID: "lat2", Kind: KindLatency, Direction: Upstream, Delay: 40 * time.Millisecond}))
	assert.True(t, switched(p))
	assert.Equal(t, effect{delay: 40 * time.Millisecond}, *p.up.Load())
	roundTrip(t, c, msg)

	require.NoError(t, p.RemoveToxic("lat"))
	require.NoError(t, p.RemoveToxic("lat2"))
	assert.True(t, switched(p))
	assert.True(t, p.up.Load().none() && p.down.Load().none(), "effects left after removal")
	roundTrip(t, c, msg)
	assert.ErrorIs(t, p.RemoveToxic("lat"), ErrNoToxic)
}

// TestShapedStreamIsExact: through latency with jitter and a bandwidth cap,
// every byte arrives, once and in order. How long the cap holds is
// measured in test/ (TestProxyBandwidthCap).
func TestShapedStreamIsExact(t *testing.T) {
	p := startProxy(t, echoServer(t))
	require.NoError(t, p.AddToxic(Toxic{ID: "lat", Kind: KindLatency, Direction: Both, Delay: 5 * time.Millisecond, Jitter: 5 * time.Millisecond}))
	require.NoError(t, p.AddToxic(Toxic{ID: "bw", Kind: KindBandwidth, Direction: Downstream, Rate: 16 << 20}))
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	data := make([]byte, 1<<20)
	_, _ = rand.Read(data)
	assert.True(t, bytes.Equal(data, echoed(t, c, data)), "data changed through the toxics")
}

// TestBlackholeDropsThenRestores: bytes written under a blackhole never
// reach the upstream (the stream's end, not data, does: the echo server
// closes and nothing comes back), and removing the blackhole restores a
// connection that was open under it. That nothing comes back on the
// connection that stays open is measured in test/ (TestProxyBlackholeThenRestore).
func TestBlackholeDropsThenRestores(t *testing.T) {
	p := startProxy(t, echoServer(t))
	open, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer open.Close()
	roundTrip(t, open, []byte("x"))
	require.NoError(t, p.AddToxic(Toxic{ID: "bh", Kind: KindBlackhole, Direction: Upstream}))
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	assert.Empty(t, echoed(t, c, []byte("lost")), "a black-holed write came back")
	require.NoError(t, p.RemoveToxic("bh"))
	roundTrip(t, open, []byte("back"))
}

func TestResetToxic(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	roundTrip(t, c, []byte("x"))
	require.NoError(t, p.AddToxic(Toxic{ID: "rst", Kind: KindReset, Direction: Both}))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF), "got %v", err)
	// New connections are reset too, until the toxic goes.
	if c2, err := net.Dial("tcp", p.Addr()); err == nil { // or the dial itself is reset
		_, err = c2.Read(make([]byte, 1))
		require.Error(t, err)
		c2.Close()
	}
	require.NoError(t, p.RemoveToxic("rst"))
	c3, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c3.Close()
	roundTrip(t, c3, []byte("ok"))
}

func TestUpstreamDownResetsClient(t *testing.T) {
	// A listener that is closed at once: its port refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := startProxy(t, ln.Addr().String())
	ln.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		return // reset during the handshake
	}
	defer c.Close()
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err)
}

func TestToxicCheck(t *testing.T) {
	for _, tc := range []struct {
		t    Toxic
		want string
	}{
		{Toxic{Kind: KindLatency, Direction: "sideways", Delay: time.Second}, `direction "sideways"`},
		{Toxic{Kind: KindLatency, Direction: Both}, "latency needs delay > 0"},
		{Toxic{Kind: KindLatency, Direction: Both, Delay: time.Millisecond, Jitter: time.Second}, "jitter 1s larger than delay 1ms"},
		{Toxic{Kind: KindBandwidth, Direction: Both}, "rate > 0"},
		{Toxic{Kind: "slow", Direction: Both}, `kind "slow"`},
	} {
		err := tc.t.Check()
		require.ErrorIs(t, err, ErrInvalidToxic)
		assert.Contains(t, err.Error(), tc.want)
	}
}

func TestControlAPIOverUnixSocket(t *testing.T) {
	p := startProxy(t, echoServer(t))
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	ln, err := ListenControl(context.Background(), "unix:"+sock)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(Handler(p))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	ctx := context.Background()
	cl := NewClient("unix:" + sock)
	require.NoError(t, cl.Add(ctx, Toxic{ID: "a", Kind: KindLatency, Direction: Both, Delay: time.Millisecond}))
	err = cl.Add(ctx, Toxic{ID: "a", Kind: KindLatency, Direction: Both, Delay: time.Millisecond})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "409")
	err = cl.Add(ctx, Toxic{ID: "b", Kind: KindLatency, Direction: "up"})
	assert.Contains(t, err.Error(), `400 Bad Request: invalid toxic: direction "up"`)
	st, err := cl.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, p.Addr(), st.Listen)
	require.Len(t, st.Toxics, 1)
	require.NoError(t, cl.Remove(ctx, "a"))
	assert.ErrorIs(t, cl.Remove(ctx, "a"), ErrNoToxic)

	srv.Close()
	_, err = NewClient("unix:" + sock).Status(ctx)
	assert.ErrorIs(t, err, ErrProxyGone)
}
