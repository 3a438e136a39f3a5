package probes

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	loadBenchRate   = 1000
	loadBenchWindow = 3 * time.Second
)

// startDemoTarget builds test/target and serves it on loopback.
func startDemoTarget(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "target")
	if out, err := exec.Command("go", "build", "-o", bin, "../test/target").CombinedOutput(); err != nil {
		b.Fatalf("build test/target: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	data := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(data, []byte("marker\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-listen", addr, "-data", data)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return addr
		}
	}
	b.Fatalf("test/target did not come up on %s", addr)
	return ""
}

// BenchmarkLoadProbe1000 streams a load probe at 1000 req/s against the
// demo target (its own process) for 3 s per iteration and reports:
//
//	req/s     requests answered per second (target 1000)
//	cpu%      the probing process's user+sys CPU over the window, in
//	          percent of one core (target: under 50)
//	ok%       share of requests that passed
//	p50-µs, p90-µs, p99-µs  request latency percentiles
//
// then runs wrk (Debian's; installed here if missing) against the same
// target with as many connections as the probe opened, for the same
// window, and prints its figures as the reference. wrk has no fixed rate
// (that is wrk2, not in Debian): it sends as fast as it can, so its rate is
// its ceiling on this machine and its latencies are under that heavier
// load; its CPU is its own process's.
//
// Run it with: go test -run '^$' -bench Load -benchtime 1x ./probes/
func BenchmarkLoadProbe1000(b *testing.B) {
	addr := startDemoTarget(b)
	url := "http://" + addr + "/healthz"
	pr, err := (&LoadSpec{URL: url, Rate: loadBenchRate}).Build("load")
	if err != nil {
		b.Fatal(err)
	}
	p := pr.(*loadProber)
	b.Cleanup(func() { _ = p.Close() })
	var conns atomic.Int64
	dial := p.tr.DialContext
	p.tr.DialContext = func(ctx context.Context, network, a string) (net.Conn, error) {
		conns.Add(1)
		return dial(ctx, network, a)
	}

	var lat []time.Duration
	var ok, n int
	var cpu, wall time.Duration
	b.ResetTimer()
	for range b.N {
		var mu sync.Mutex
		ctx, cancel := context.WithTimeout(context.Background(), loadBenchWindow)
		c0, _, w0 := cpuTime()
		_ = p.Stream(ctx, time.Second, func(s Sample) {
			mu.Lock()
			n++
			if s.OK {
				ok++
			}
			lat = append(lat, s.Latency)
			mu.Unlock()
		})
		c1, _, w1 := cpuTime()
		cancel()
		cpu += c1 - c0
		wall += w1.Sub(w0)
	}
	b.StopTimer()
	if n == 0 {
		b.Fatal("no samples")
	}
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) }
	rate := float64(n) / wall.Seconds()
	b.ReportMetric(rate, "req/s")
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu%")
	b.ReportMetric(100*float64(ok)/float64(n), "ok%")
	b.ReportMetric(pct(0.5), "p50-µs")
	b.ReportMetric(pct(0.9), "p90-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(0, "ns/op")
	c := max(conns.Load(), 1)
	b.Logf("load probe: %.0f req/s (asked %d), %.1f%% of a core, p50 %.0fµs p90 %.0fµs p99 %.0fµs, %d connections",
		rate, loadBenchRate, 100*cpu.Seconds()/wall.Seconds(), pct(0.5), pct(0.9), pct(0.99), c)
	wrkReference(b, url, c)
}

var (
	wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPct  = regexp.MustCompile(`(?m)^\s+(50|90|99)%\s+(\S+)`)
)

// wrkReference runs wrk against url with conns connections for the
// benchmark's window and logs its rate, CPU and percentiles.
func wrkReference(b *testing.B, url string, conns int64) {
	if _, err := exec.LookPath("wrk"); err != nil {
		if out, err := exec.Command("apt-get", "install", "-y", "-q", "wrk").CombinedOutput(); err != nil {
			b.Logf("wrk reference skipped: wrk is not installed and apt-get install wrk failed: %v\n%s", err, out)
			return
		}
	}
	cmd := exec.Command("wrk", "-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(loadBenchWindow.Seconds())), "--latency", url)
	out, err := cmd.Output()
	if err != nil {
		b.Logf("wrk reference skipped: %v\n%s", err, out)
		return
	}
	st := cmd.ProcessState
	cpu := st.UserTime() + st.SystemTime()
	rate := "?"
	if m := wrkRate.FindSubmatch(out); m != nil {
		rate = string(m[1])
	}
	pcts := map[string]string{}
	for _, m := range wrkPct.FindAllSubmatch(out, -1) {
		pcts[string(m[1])] = string(m[2])
	}
	b.Logf("wrk (reference, closed loop at its own top rate, %d connections, 1 thread): %s req/s, %.1f%% of a core, p50 %s p90 %s p99 %s",
		conns, rate, 100*cpu.Seconds()/loadBenchWindow.Seconds(), pcts["50"], pcts["90"], pcts["99"])
}
