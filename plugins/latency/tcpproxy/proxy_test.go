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

// roundTrip writes msg and reads it back, returning the time it took.
func roundTrip(t testing.TB, c net.Conn, msg []byte) time.Duration {
	t.Helper()
	start := time.Now()
	_, err := c.Write(msg)
	require.NoError(t, err)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.Equal(t, msg, got)
	return time.Since(start)
}

func TestPassThroughIsExact(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	data := make([]byte, 8<<20)
	_, _ = rand.Read(data)
	go func() { _, _ = c.Write(data); c.(*net.TCPConn).CloseWrite() }()
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got), "data changed through the proxy")
}

func TestLatencyToxicOnAnOpenConnection(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	msg := []byte("ping")
	fast := roundTrip(t, c, msg) // the connection is in the splice path now

	// The toxic must reach a connection blocked in splice.
	require.NoError(t, p.AddToxic(Toxic{ID: "lat", Kind: KindLatency, Direction: Downstream, Delay: 80 * time.Millisecond}))
	slow := roundTrip(t, c, msg)
	assert.GreaterOrEqual(t, slow, 80*time.Millisecond, "delay not applied (before: %s)", fast)

	require.NoError(t, p.AddToxic(Toxic{ID: "lat2", Kind: KindLatency, Direction: Upstream, Delay: 40 * time.Millisecond}))
	both := roundTrip(t, c, msg)
	assert.GreaterOrEqual(t, both, 120*time.Millisecond)

	require.NoError(t, p.RemoveToxic("lat"))
	require.NoError(t, p.RemoveToxic("lat2"))
	roundTrip(t, c, msg) // may still be in the toxic path for this chunk
	after := roundTrip(t, c, msg)
	assert.Less(t, after, 40*time.Millisecond, "delay still applied after removal")
	assert.ErrorIs(t, p.RemoveToxic("lat"), ErrNoToxic)
}

func TestBandwidthCap(t *testing.T) {
	p := startProxy(t, echoServer(t))
	require.NoError(t, p.AddToxic(Toxic{ID: "bw", Kind: KindBandwidth, Direction: Downstream, Rate: 200 << 10}))
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	// 100 KiB at 200 KiB/s takes at least ~0.5 s (less the first chunk).
	d := roundTrip(t, c, make([]byte, 100<<10))
	assert.GreaterOrEqual(t, d, 400*time.Millisecond)
}

func TestBlackholeThenRestore(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, p.AddToxic(Toxic{ID: "bh", Kind: KindBlackhole, Direction: Upstream}))
	_, err = c.Write([]byte("lost"))
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = c.Read(make([]byte, 4))
	require.Error(t, err, "a black-holed write came back")
	_ = c.SetReadDeadline(time.Time{})
	require.NoError(t, p.RemoveToxic("bh"))
	roundTrip(t, c, []byte("back"))
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
