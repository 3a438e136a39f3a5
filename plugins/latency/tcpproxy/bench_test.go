package tcpproxy

import (
	"context"
	"io"
	"net"
	"sort"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// sinkServer reads every connection to the end and then closes it.
func sinkServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func toxiproxyTo(b *testing.B, upstream string) string {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "bench", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Stop)
	return p.Listen
}

func ourProxyTo(b *testing.B, upstream string) (*Proxy, string) {
	p := New("127.0.0.1:0", upstream)
	if err := p.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p, p.Addr()
}

// push sends n bytes to addr and waits until the far end has read them all.
func push(b *testing.B, addr string, n int) time.Duration {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 128<<10)
	start := time.Now()
	for sent := 0; sent < n; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	_ = c.(*net.TCPConn).CloseWrite()
	_, _ = io.Copy(io.Discard, c) // the sink closes after reading everything
	return time.Since(start)
}

// BenchmarkProxyThroughput measures bulk throughput over loopback directly,
// through our proxy (no toxic: splice) and through Toxiproxy (no toxic), in
// the same run. Goal: ours >= 1.5x Toxiproxy.
func BenchmarkProxyThroughput(b *testing.B) {
	const size = 512 << 20
	sink := sinkServer(b)
	_, ours := ourProxyTo(b, sink)
	toxi := toxiproxyTo(b, sink)
	mbps := func(addr string) float64 {
		push(b, addr, 16<<20) // warm up
		best := time.Duration(1<<63 - 1)
		for range 3 {
			best = min(best, push(b, addr, size))
		}
		return float64(size) / (1 << 20) / best.Seconds()
	}
	for range b.N {
		direct, o, t := mbps(sink), mbps(ours), mbps(toxi)
		b.ReportMetric(direct, "direct_MiB/s")
		b.ReportMetric(o, "chaosctl_MiB/s")
		b.ReportMetric(t, "toxiproxy_MiB/s")
		b.ReportMetric(o/t, "chaosctl/toxiproxy")
	}
}

// rtts measures n one-byte round trips to an echo server through addr.
func rtts(b *testing.B, addr string, n int) []time.Duration {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetNoDelay(true)
	one, got := []byte{'x'}, make([]byte, 1)
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := c.Write(one); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
		out = append(out, time.Since(start))
	}
	return out
}

func p50(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// BenchmarkProxyAddedLatency is what the proxy adds to a round trip with
// no toxic (p50, direct vs through it, same run). Goal: < 100us.
func BenchmarkProxyAddedLatency(b *testing.B) {
	echo := echoServer(b)
	_, ours := ourProxyTo(b, echo)
	toxi := toxiproxyTo(b, echo)
	for range b.N {
		rtts(b, ours, 200) // warm up
		direct, via, tx := p50(rtts(b, echo, 3000)), p50(rtts(b, ours, 3000)), p50(rtts(b, toxi, 3000))
		b.ReportMetric(float64(direct.Microseconds()), "direct_p50_us")
		b.ReportMetric(float64((via-direct).Nanoseconds())/1e3, "chaosctl_added_p50_us")
		b.ReportMetric(float64((tx-direct).Nanoseconds())/1e3, "toxiproxy_added_p50_us")
	}
}

// BenchmarkDelayAccuracy sets a 50ms latency toxic and reports how far the
// measured p50 round trip is from it. Goal: |p50 - 50ms| < 1ms.
func BenchmarkDelayAccuracy(b *testing.B) {
	echo := echoServer(b)
	p, ours := ourProxyTo(b, echo)
	if err := p.AddToxic(Toxic{ID: "d", Kind: KindLatency, Direction: Downstream, Delay: 50 * time.Millisecond}); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		m := p50(rtts(b, ours, 60))
		b.ReportMetric(float64(m.Microseconds())/1e3, "p50_ms")
		b.ReportMetric(float64((m - 50*time.Millisecond).Abs().Microseconds()), "abs_err_us")
	}
}
