package daemon

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/plugins/builtin"
)

// benchConfigEnv makes the test binary a daemon, so the benchmarks measure
// a real daemon process without the test harness's memory.
const benchConfigEnv = "CHAOSCTL_BENCH_DAEMON_CONFIG"

func TestMain(m *testing.M) {
	if path := os.Getenv(benchConfigEnv); path != "" {
		os.Exit(benchDaemon(path))
	}
	os.Exit(m.Run())
}

func benchDaemon(path string) int {
	cfg, err := LoadConfig(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	d, err := New(ctx, cfg, Options{Log: zerolog.New(os.Stderr).Level(zerolog.WarnLevel), Catalog: builtin.InProcess{}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 5
	}
	if err := d.Serve(ctx, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 5
	}
	return 0
}

// startBenchDaemon runs the test binary as a daemon with n scheduled
// scenarios and returns its pid and a client.
func startBenchDaemon(b *testing.B, n int) (int, *api.Client, time.Duration) {
	b.Helper()
	dir := b.TempDir()
	scen := filepath.Join(dir, "scenarios")
	if err := os.MkdirAll(scen, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		// Yearly schedules: loaded and scheduled, never due during the benchmark.
		sc := fmt.Sprintf(`version = 1
name = "s%04d"
schedule = "0 %d %d 1 1 *"
window = "Tue 10:00-12:00"
[[probe]]
name = "web"
kind = "http"
url = "http://127.0.0.1:1/healthz"
[[slo]]
name = "up"
probe = "web"
availability = 99.0
[[fault]]
plugin = "process"
action = "pause"
duration = "30s"
[fault.target]
pidfile = "/run/s%04d.pid"
[recovery]
recover_within = "10s"
`, i, i%60, (i/60)%24, i)
		if err := os.WriteFile(filepath.Join(scen, fmt.Sprintf("s%04d.toml", i)), []byte(sc), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	sock := filepath.Join(dir, "d.sock")
	cfgPath := filepath.Join(dir, "d.toml")
	cfg := fmt.Sprintf("scenario_dirs = [%q]\nstore = %q\n[api]\nsocket = %q\n", scen, filepath.Join(dir, "d.db"), sock)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchConfigEnv+"="+cfgPath)
	cmd.Stderr = os.Stderr
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	c, err := api.NewClient(api.ClientOptions{Socket: sock})
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if l, err := c.Scenarios(context.Background()); err == nil {
			if len(l.Scenarios) != n || len(l.Errors) != 0 {
				b.Fatalf("loaded %d scenarios, %d errors %v", len(l.Scenarios), len(l.Errors), l.Errors)
			}
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("bench daemon did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cmd.Process.Pid, c, time.Since(begin)
}

// procCPU is a process's user+system time in clock ticks (USER_HZ, 100/s).
func procCPU(b *testing.B, pid int) int64 {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(s)[strings.LastIndexByte(string(s), ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st
}

func procRSS(b *testing.B, pid int) float64 {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// BenchmarkIdle1000Scenarios: a daemon process with 1000 scheduled
// scenarios, idle. Targets: RSS < 40 MiB, CPU < 1% of a core.
func BenchmarkIdle1000Scenarios(b *testing.B) {
	pid, _, startup := startBenchDaemon(b, 1000)
	time.Sleep(time.Second) // let start-up garbage go
	const window = 5 * time.Second
	var rss, cpu float64
	for b.Loop() {
		c0, t0 := procCPU(b, pid), time.Now()
		time.Sleep(window)
		c1, t1 := procCPU(b, pid), time.Now()
		cpu = float64(c1-c0) / 100 / t1.Sub(t0).Seconds() * 100
		rss = procRSS(b, pid)
	}
	b.ReportMetric(rss, "idle-RSS-MiB")
	b.ReportMetric(cpu, "idle-CPU-%core")
	b.ReportMetric(startup.Seconds(), "startup-s")
}

// BenchmarkAPIRequest: latency of API requests over the unix socket to a
// daemon with 1000 scenarios: status (small) and the scenario list (all
// 1000 with their next run).
func BenchmarkAPIRequest(b *testing.B) {
	_, c, _ := startBenchDaemon(b, 1000)
	ctx := context.Background()
	measure := func(n int, call func() error) time.Duration {
		d := make([]time.Duration, n)
		for i := range d {
			t := time.Now()
			if err := call(); err != nil {
				b.Fatal(err)
			}
			d[i] = time.Since(t)
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[n/2]
	}
	var status, list time.Duration
	for b.Loop() {
		status = measure(500, func() error { _, err := c.Status(ctx); return err })
		list = measure(50, func() error { _, err := c.Scenarios(ctx); return err })
	}
	b.ReportMetric(float64(status.Microseconds()), "status-p50-µs")
	b.ReportMetric(float64(list.Microseconds())/1000, "list-1000-p50-ms")
}
