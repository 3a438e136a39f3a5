package experiments

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/probes"
)

// serverEnv makes the re-executed test binary serve HTTP, so benchmarks
// measure only the probing side's CPU.
const serverEnv = "CHAOSCTL_EXPERIMENTS_BENCH_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(l.Addr())
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); l.Close() }()
		_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"status":"up"}`)
		}))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func startServer(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serverEnv+"=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return addr[:len(addr)-1]
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSampling100HTTPAt10Hz runs the engine's sampler with 100 real
// HTTP probes at 10 Hz each for 3 s per iteration against a server in a
// child process, recording every sample as a run does, and reports the
// probing process's CPU in percent of one core (target < 5%).
//
//	go test -run '^$' -bench Sampling100 -benchtime 1x ./experiments/
func BenchmarkSampling100HTTPAt10Hz(b *testing.B) {
	url := "http://" + startServer(b) + "/healthz"
	const n, window = 100, 3 * time.Second
	ps := make([]probes.Prober, n)
	for i := range ps {
		spec, _ := probes.Lookup("http")
		s := spec.NewSpec().(*probes.HTTPSpec)
		s.URL = url
		p, err := s.Build(fmt.Sprintf("p%d", i))
		if err != nil {
			b.Fatal(err)
		}
		ps[i] = p
	}
	var cpuPct, rate float64
	for b.Loop() {
		rec := &recorder{}
		ctx, cancel := context.WithTimeout(context.Background(), window)
		c0, w0 := cpuNow(), time.Now()
		var wg sync.WaitGroup
		for i, p := range ps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sample(ctx, fmt.Sprintf("p%d", i), p, 100*time.Millisecond, time.Second, rec)
			}()
		}
		wg.Wait()
		cancel()
		wall := time.Since(w0)
		cpuPct += 100 * float64(cpuNow()-c0) / float64(wall)
		rate += float64(rec.n) / wall.Seconds()
		ok := 0
		for _, s := range rec.snapshot() {
			if s.OK {
				ok++
			}
		}
		if ok < rec.n*99/100 {
			b.Fatalf("%d of %d samples ok", ok, rec.n)
		}
	}
	b.ReportMetric(cpuPct/float64(b.N), "cpu%")
	b.ReportMetric(rate/float64(b.N), "samples/s")
}
