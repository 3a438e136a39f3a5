package probes

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/disk"
	"github.com/shirou/gopsutil/v3/mem"
	"github.com/shirou/gopsutil/v3/process"
)

func init() {
	register(Kind{
		Name:    "host",
		Doc:     "Host metric of the machine chaosctl runs on: cpu, memory or disk use at most max percent, or process_name running. Value: the percent or the count.",
		NewSpec: func() Spec { return &HostSpec{} },
	})
}

// Host metrics.
const (
	MetricCPU     = "cpu"
	MetricMemory  = "memory"
	MetricDisk    = "disk"
	MetricProcess = "process"
)

// defaultCPUWindow is how long the first cpu attempt measures over; later
// attempts measure since the previous one and do not block.
const defaultCPUWindow = 200 * time.Millisecond

// HostSpec is the "host" probe.
type HostSpec struct {
	Metric      string   `toml:"metric"`       // required: cpu, memory, disk or process
	Max         *float64 `toml:"max"`          // cpu, memory, disk: ok when the used percent <= max
	Path        string   `toml:"path"`         // disk: a path on the filesystem; default "/"
	ProcessName string   `toml:"process_name"` // process: exact process name
	MinCount    int      `toml:"min_count"`    // process: ok when at least this many run; default 1
	Window      Duration `toml:"window"`       // cpu: measuring window of the first attempt; default 200ms
}

// Validate reports every problem with the spec.
func (s *HostSpec) Validate() []FieldError {
	var errs []FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	only := func(field, metrics string) { add(field, "only for metric %s", metrics) }

	percent := false
	switch s.Metric {
	case "":
		add("metric", "required: cpu, memory, disk or process")
	case MetricCPU, MetricMemory, MetricDisk:
		percent = true
		if s.Max == nil {
			add("max", "required for metric %s: the highest acceptable percent used", s.Metric)
		}
	case MetricProcess:
		if s.ProcessName == "" {
			add("process_name", "required for metric process")
		}
	default:
		add("metric", "unknown metric %q (want cpu, memory, disk or process)", s.Metric)
	}
	if s.Max != nil {
		if s.Metric != "" && !percent {
			only("max", "cpu, memory or disk")
		} else if *s.Max < 0 || *s.Max > 100 {
			add("max", "%g is not a percent (0..100)", *s.Max)
		}
	}
	if s.Path != "" && s.Metric != MetricDisk {
		only("path", MetricDisk)
	}
	if s.ProcessName != "" && s.Metric != MetricProcess {
		only("process_name", MetricProcess)
	}
	if s.MinCount != 0 && s.Metric != MetricProcess {
		only("min_count", MetricProcess)
	} else if s.MinCount < 0 {
		add("min_count", "%d is negative", s.MinCount)
	}
	if s.Window.Duration != 0 && s.Metric != MetricCPU {
		only("window", MetricCPU)
	} else if s.Window.Duration < 0 {
		add("window", "%v is negative", s.Window)
	}
	return errs
}

// Build returns the prober.
func (s *HostSpec) Build(name string) (Prober, error) {
	if err := validated(name, s.Validate()); err != nil {
		return nil, err
	}
	p := &hostProber{name: name, spec: *s}
	if p.spec.Path == "" {
		p.spec.Path = "/"
	}
	if p.spec.MinCount == 0 {
		p.spec.MinCount = 1
	}
	if p.spec.Window.Duration == 0 {
		p.spec.Window.Duration = defaultCPUWindow
	}
	return p, nil
}

type hostProber struct {
	name string
	spec HostSpec

	mu      sync.Mutex     // serialises cpu attempts around prev
	prevCPU *cpu.TimesStat // cpu: totals at the previous attempt
}

var _ Prober = (*hostProber)(nil)

func (p *hostProber) Probe(ctx context.Context) Sample {
	return measure(ctx, p.name, p.attempt)
}

func (p *hostProber) attempt(ctx context.Context) (float64, error) {
	switch p.spec.Metric {
	case MetricCPU:
		v, err := p.cpuPercent(ctx)
		if err != nil {
			return 0, fmt.Errorf("cpu: %w", err)
		}
		return p.atMost(v)
	case MetricMemory:
		vm, err := mem.VirtualMemoryWithContext(ctx)
		if err != nil {
			return 0, fmt.Errorf("memory: %w", err)
		}
		return p.atMost(vm.UsedPercent)
	case MetricDisk:
		u, err := disk.UsageWithContext(ctx, p.spec.Path)
		if err != nil {
			return 0, fmt.Errorf("disk: %w", err)
		}
		return p.atMost(u.UsedPercent)
	case MetricProcess:
		n, err := countProcesses(ctx, p.spec.ProcessName)
		if err != nil {
			return float64(n), fmt.Errorf("process: %w", err)
		}
		if n < p.spec.MinCount {
			return float64(n), fmt.Errorf("%d %q running, want at least %d", n, p.spec.ProcessName, p.spec.MinCount)
		}
		return float64(n), nil
	}
	return 0, fmt.Errorf("unknown metric %q", p.spec.Metric) // Build validated it
}

func (p *hostProber) atMost(v float64) (float64, error) {
	if v > *p.spec.Max {
		return v, fmt.Errorf("%s %.1f%% used, want at most %g%%", p.spec.Metric, v, *p.spec.Max)
	}
	return v, nil
}

// cpuPercent is the busy share of all CPUs together (0..100) since the
// previous attempt. The first attempt has nothing to compare with, so it
// measures over Window (cut short by ctx). It does not use cpu.Percent(0),
// whose "previous call" is global to the process and shared by every prober.
func (p *hostProber) cpuPercent(ctx context.Context) (float64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.prevCPU == nil {
		t, err := cpuTotals(ctx)
		if err != nil {
			return 0, err
		}
		p.prevCPU = &t
		timer := time.NewTimer(p.spec.Window.Duration)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-timer.C:
		}
	}
	t, err := cpuTotals(ctx)
	if err != nil {
		return 0, err
	}
	v := busyPercent(*p.prevCPU, t)
	p.prevCPU = &t
	return v, nil
}

func cpuTotals(ctx context.Context) (cpu.TimesStat, error) {
	ts, err := cpu.TimesWithContext(ctx, false)
	if err != nil {
		return cpu.TimesStat{}, err
	}
	if len(ts) == 0 {
		return cpu.TimesStat{}, errors.New("no CPU times")
	}
	return ts[0], nil
}

// busyPercent is the share of time not idle between two readings, as
// gopsutil computes it (guest time is already counted in user on Linux).
func busyPercent(a, b cpu.TimesStat) float64 {
	total := func(t cpu.TimesStat) float64 {
		tot := t.Total()
		if runtime.GOOS == "linux" {
			tot -= t.Guest + t.GuestNice
		}
		return tot
	}
	busy := func(t cpu.TimesStat) float64 { return total(t) - t.Idle - t.Iowait }
	dAll, dBusy := total(b)-total(a), busy(b)-busy(a)
	switch {
	case dBusy <= 0:
		return 0
	case dAll <= 0:
		return 100
	}
	return min(100, dBusy/dAll*100)
}

// countProcesses counts live (non-zombie) processes named name.
func countProcesses(ctx context.Context, name string) (int, error) {
	pids, err := process.PidsWithContext(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		proc := &process.Process{Pid: pid}
		got, err := proc.NameWithContext(ctx)
		if err != nil || got != name {
			continue // gone since listed, or not ours
		}
		if st, err := proc.StatusWithContext(ctx); err == nil && len(st) > 0 && st[0] == process.Zombie {
			continue
		}
		n++
	}
	return n, nil
}
