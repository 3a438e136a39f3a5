package stress

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// RunWorker is a worker process's whole life: job is WorkerEnv's value.
// It waits for "go" on stdin, does the job, says "ready" on stdout once
// effective, and returns when stdin closes (its plugin is gone) or ctx ends.
func RunWorker(ctx context.Context, job string) error {
	kind, arg, _ := strings.Cut(job, ":")
	in := bufio.NewReader(os.Stdin)
	if line, err := in.ReadString('\n'); err != nil || strings.TrimSpace(line) != "go" {
		return fmt.Errorf("stress worker: no go-ahead on stdin")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = in.ReadString('\n') // EOF: the plugin is gone
		cancel()
	}()
	switch kind {
	case "cpu":
		load, err := strconv.ParseFloat(arg, 64)
		if err != nil || load <= 0 || load > 100 {
			return fmt.Errorf("stress worker: bad load %q", arg)
		}
		runtime.GOMAXPROCS(1)
		fmt.Println("ready")
		burn(ctx, load/100)
		return nil
	case "memory":
		mib, err := strconv.Atoi(arg)
		if err != nil || mib < 1 {
			return fmt.Errorf("stress worker: bad size %q", arg)
		}
		b := make([]byte, mib<<20)
		for i := 0; i < len(b); i += os.Getpagesize() {
			b[i] = 1
		}
		fmt.Println("ready")
		<-ctx.Done()
		runtime.KeepAlive(b)
		return nil
	}
	return fmt.Errorf("stress worker: unknown job %q", job)
}

// burn keeps this process's CPU time at share of wall time, measured with
// getrusage so that the load holds even when other processes compete: it
// spins while behind, sleeps while ahead. The window restarts every second
// so a stretch without CPU is not paid back in a burst.
func burn(ctx context.Context, share float64) {
	const slice = 2 * time.Millisecond
	start, base := time.Now(), cpuTime()
	for ctx.Err() == nil {
		now := time.Now()
		el := now.Sub(start)
		if el > time.Second {
			start, base, el = now, cpuTime(), 0
		}
		used := cpuTime() - base
		if float64(used) < share*float64(el+slice) {
			for t := time.Now(); time.Since(t) < slice; {
			}
			continue
		}
		time.Sleep(slice)
	}
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
