package probes

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchServerEnv makes the test binary, re-executed, serve HTTP for the
// benchmark in a child process, so the parent's CPU figures cover only the
// probing side.
const benchServerEnv = "CHAOSCTL_PROBES_BENCH_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(benchServerEnv) == "1" {
		if err := serveBench(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveBench prints its address on stdout and serves until stdin closes.
func serveBench() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(l.Addr().String())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = l.Close()
	}()
	err = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"status":"up"}`)
	}))
	if err != nil && !isClosed(err) {
		return err
	}
	return nil
}

func isClosed(err error) bool { return err != nil && errors.Is(err, net.ErrClosed) }

// startBenchServer re-executes the test binary as the HTTP server.
func startBenchServer(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Errorf("bench server: %v", err)
		}
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("bench server address: %v", err)
	}
	return addr[:len(addr)-1]
}

// cpuTime is this process's user+sys and user CPU time, and the wall clock.
func cpuTime() (total, user time.Duration, wall time.Time) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), time.Duration(ru.Utime.Nano()), time.Now()
}

const (
	benchProbers = 100
	benchEvery   = 100 * time.Millisecond
	benchWindow  = 3 * time.Second
)

// BenchmarkHTTPProbe100At10Hz runs 100 HTTP probers at 10 Hz each for a
// 3 s window per iteration against a server in a child process, and
// reports the probing process's CPU use:
//
//	cpu%      user+sys CPU time / wall time, in percent of one core
//	user%     the user-space part of cpu%
//	ns/op     CPU time per probe attempt (replaces the wall time per window)
//	probes/s  attempts completed per second (target 1000)
//	ok%       share of attempts that passed
//	p99-µs    99th percentile attempt latency
//
// Run it with: go test -run '^$' -bench 100At10Hz -benchtime 1x -count 3 ./probes/
func BenchmarkHTTPProbe100At10Hz(b *testing.B) {
	url := "http://" + startBenchServer(b) + "/health"
	ps := make([]Prober, benchProbers)
	for i := range ps {
		p, err := (&HTTPSpec{URL: url, JSONPath: "$.status", JSONEquals: "up"}).Build(fmt.Sprintf("p%d", i))
		if err != nil {
			b.Fatal(err)
		}
		ps[i] = p
		b.Cleanup(func() { _ = p.(io.Closer).Close() })
	}
	runAt10Hz(b, ps)
}

// BenchmarkNoopProbe100At10Hz is the same schedule with probers that do
// nothing: the cost of the scheduling itself (100 goroutines, tickers,
// per-attempt contexts), to subtract from the HTTP figure.
func BenchmarkNoopProbe100At10Hz(b *testing.B) {
	ps := make([]Prober, benchProbers)
	for i := range ps {
		ps[i] = noopProber{}
	}
	runAt10Hz(b, ps)
}

type noopProber struct{}

func (noopProber) Probe(ctx context.Context) Sample {
	return measure(ctx, "noop", func(context.Context) (float64, error) { return 0, nil })
}

func runAt10Hz(b *testing.B, ps []Prober) {
	// Warm up: open every prober's connection outside the measurement.
	for _, p := range ps {
		if s := p.Probe(context.Background()); !s.OK {
			b.Fatalf("warm-up: %s", s.Err)
		}
	}

	var totalCPU, totalUser, totalWall time.Duration
	var attempts, oks atomic.Int64
	var latMu sync.Mutex
	var lats []time.Duration
	b.ResetTimer()
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), benchWindow)
		cpu0, user0, wall0 := cpuTime()
		var wg sync.WaitGroup
		for i, p := range ps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Spread the probers over the interval, as a runner would
				// after their independent starts.
				select {
				case <-time.After(benchEvery * time.Duration(i) / time.Duration(len(ps))):
				case <-ctx.Done():
					return
				}
				tick := time.NewTicker(benchEvery)
				defer tick.Stop()
				local := make([]time.Duration, 0, int(benchWindow/benchEvery)+1)
				for {
					actx, acancel := context.WithTimeout(ctx, time.Second)
					s := p.Probe(actx)
					acancel()
					if ctx.Err() != nil {
						break // cut by the end of the window, not a real failure
					}
					attempts.Add(1)
					if s.OK {
						oks.Add(1)
					}
					local = append(local, s.Latency)
					select {
					case <-ctx.Done():
					case <-tick.C:
						continue
					}
					break
				}
				latMu.Lock()
				lats = append(lats, local...)
				latMu.Unlock()
			}()
		}
		wg.Wait()
		cpu1, user1, wall1 := cpuTime()
		totalCPU += cpu1 - cpu0
		totalUser += user1 - user0
		totalWall += wall1.Sub(wall0)
		cancel()
	}
	b.StopTimer()

	n := attempts.Load()
	if n == 0 {
		b.Fatal("no attempts")
	}
	b.ReportMetric(100*totalCPU.Seconds()/totalWall.Seconds(), "cpu%")
	b.ReportMetric(100*totalUser.Seconds()/totalWall.Seconds(), "user%")
	b.ReportMetric(float64(totalCPU.Nanoseconds())/float64(n), "ns/op")
	b.ReportMetric(float64(n)/totalWall.Seconds(), "probes/s")
	b.ReportMetric(100*float64(oks.Load())/float64(n), "ok%")
	b.ReportMetric(float64(percentile(lats, 99).Microseconds()), "p99-µs")
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}
