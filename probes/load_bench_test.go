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
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	loadBenchRate   = 1000
	loadBenchWindow = 3 * time.Second
	// wrk at loadBenchRate: wrkConns connections, each waiting
	// wrkConns*1000/rate ms (delay()) before each request.
	wrkConns = 50
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
// demo target (its own process) for 3 s per iteration, then runs wrk
// (Debian's) against the same target at the same rate for as long, and
// prints both side by side. The probe's figures are metrics:
//
//	req/s     requests answered per second (target 1000)
//	cpu%      the probing process's user+sys CPU over the window, in
//	          percent of one core (target: under 50)
//	ok%       share of requests that passed
//	p50-µs, p90-µs, p99-µs, max-µs  request latency percentiles
//
// and wrk's are the same with a wrk- prefix. wrk has no fixed-rate flag
// (that is wrk2, not in Debian); its Lua delay() hook holds each request
// of a connection back a number of milliseconds, so wrkConns connections
// that each wait wrkConns*1000/rate ms send at about the rate. A
// connection's period is that wait plus the request's latency and the
// timer's slack, so a 1 s calibration run measures what they add and the
// measured run waits that much less (a fraction of a millisecond on
// average: the script alternates whole milliseconds). The first wait of
// each connection is staggered over one period, so that requests go evenly
// spread rather than wrkConns at once. wrk's CPU is its own process's.
// Without wrk installed the benchmark says so and fails under
// CHAOSCTL_E2E=1 (apt-get install -y wrk); else it reports the probe alone.
//
// Run it with: go test -run '^$' -bench Load -benchtime 1x ./probes/
func BenchmarkLoadProbe1000(b *testing.B) {
	wrk, wrkErr := exec.LookPath("wrk")
	if wrkErr != nil && os.Getenv("CHAOSCTL_E2E") == "1" {
		b.Fatalf("wrk is not installed (apt-get install -y wrk): this benchmark prints the load probe beside wrk at the same rate: %v", wrkErr)
	}
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
	pct := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	probe := loadFigures{
		rate: float64(n) / wall.Seconds(), cpu: 100 * cpu.Seconds() / wall.Seconds(),
		p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), max: lat[len(lat)-1],
	}
	b.ReportMetric(probe.rate, "req/s")
	b.ReportMetric(probe.cpu, "cpu%")
	b.ReportMetric(100*float64(ok)/float64(n), "ok%")
	b.ReportMetric(us(probe.p50), "p50-µs")
	b.ReportMetric(us(probe.p90), "p90-µs")
	b.ReportMetric(us(probe.p99), "p99-µs")
	b.ReportMetric(us(probe.max), "max-µs")
	b.ReportMetric(0, "ns/op")
	rows := [][2]string{{fmt.Sprintf("load probe (vegeta, %d connections)", max(conns.Load(), 1)), probe.String()}}
	if wrkErr != nil {
		b.Logf("wrk reference skipped: wrk is not installed (apt-get install -y wrk)")
	} else {
		// The period that gives the rate with nothing added, then the
		// wait that gives it once the calibration run measured the rest.
		period := float64(wrkConns) * 1000 / loadBenchRate
		cal, err := wrkAtRate(b, wrk, url, period, time.Second)
		if err != nil {
			b.Fatalf("wrk (calibration): %v", err)
		}
		wait := period
		if cal.rate > 0 {
			wait = max(period-(float64(wrkConns)*1000/cal.rate-period), 1)
		}
		w, err := wrkAtRate(b, wrk, url, wait, loadBenchWindow)
		if err != nil {
			b.Fatalf("wrk: %v", err)
		}
		b.ReportMetric(w.rate, "wrk-req/s")
		b.ReportMetric(w.cpu, "wrk-cpu%")
		b.ReportMetric(us(w.p50), "wrk-p50-µs")
		b.ReportMetric(us(w.p90), "wrk-p90-µs")
		b.ReportMetric(us(w.p99), "wrk-p99-µs")
		b.ReportMetric(us(w.max), "wrk-max-µs")
		rows = append(rows, [2]string{fmt.Sprintf("wrk (delay() %.2fms, %d connections, 1 thread)", wait, wrkConns), w.String()})
	}
	table := fmt.Sprintf("at %d req/s for %s against the demo target on loopback:\n%-46s %s", loadBenchRate, loadBenchWindow, "", loadFiguresHeader)
	for _, r := range rows {
		table += fmt.Sprintf("\n%-46s %s", r[0], r[1])
	}
	b.Log(table)
}

// loadFigures is what one load generator achieved: requests answered per
// second, its CPU in percent of one core, and latency percentiles.
type loadFigures struct {
	rate, cpu          float64
	p50, p90, p99, max time.Duration
}

const loadFiguresHeader = "     req/s    cpu%       p50       p90       p99       max"

func (f loadFigures) String() string {
	d := func(d time.Duration) string { return d.Round(time.Microsecond).String() }
	return fmt.Sprintf("%10.1f %6.1f%% %9s %9s %9s %9s", f.rate, f.cpu, d(f.p50), d(f.p90), d(f.p99), d(f.max))
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// wrkScript paces wrk: every connection waits wait ms before each
// request, on average: wrk takes whole milliseconds, so the script carries
// the fraction over to the next wait. The first waits of the conns
// connections are spread over one wait. One thread runs it (wrk -t1), so
// one Lua state sees every connection's calls.
const wrkScript = `-- written by BenchmarkLoadProbe1000: wrk at a fixed rate
local conns, wait = %d, %.6f
local first, carry = 0, 0
function delay()
  if first < conns then
    first = first + 1
    return math.floor((first - 1) * wait / conns)
  end
  carry = carry + wait
  local ms = math.floor(carry)
  carry = carry - ms
  return ms
end
`

var (
	wrkRate    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPct     = regexp.MustCompile(`(?m)^\s+(50|90|99)%\s+(\S+)`)
	wrkLatency = regexp.MustCompile(`(?m)^\s+Latency\s+\S+\s+\S+\s+(\S+)`) // avg, stdev, max
)

// wrkAtRate runs wrk against url for d (whole seconds) with wrkConns
// connections that each wait wait ms before a request (wrkScript), and
// parses what it achieved.
func wrkAtRate(b *testing.B, wrk, url string, wait float64, d time.Duration) (loadFigures, error) {
	var f loadFigures
	script := filepath.Join(b.TempDir(), "rate.lua")
	if err := os.WriteFile(script, fmt.Appendf(nil, wrkScript, wrkConns, wait), 0o644); err != nil {
		return f, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, wrk, "-t1", fmt.Sprintf("-c%d", wrkConns), fmt.Sprintf("-d%ds", int(d.Seconds())),
		"--timeout", "1s", "--latency", "-s", script, url)
	out, err := cmd.Output()
	if err != nil {
		return f, fmt.Errorf("%v\n%s", err, out)
	}
	st := cmd.ProcessState
	f.cpu = 100 * (st.UserTime() + st.SystemTime()).Seconds() / d.Seconds()
	m := wrkRate.FindSubmatch(out)
	if m == nil {
		return f, fmt.Errorf("no Requests/sec in its output:\n%s", out)
	}
	f.rate, _ = strconv.ParseFloat(string(m[1]), 64)
	found := map[string]*time.Duration{"50": &f.p50, "90": &f.p90, "99": &f.p99}
	for _, m := range wrkPct.FindAllSubmatch(out, -1) {
		dst, ok := found[string(m[1])]
		if d, err := time.ParseDuration(string(m[2])); ok && err == nil { // wrk's units: us, ms, s, m
			*dst = d
			delete(found, string(m[1]))
		}
	}
	if m := wrkLatency.FindSubmatch(out); m != nil {
		f.max, _ = time.ParseDuration(string(m[1]))
	}
	if len(found) > 0 || f.max == 0 {
		return f, fmt.Errorf("latency percentiles or max missing from its output:\n%s", out)
	}
	return f, nil
}
