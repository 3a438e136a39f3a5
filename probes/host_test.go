package probes

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func hostProbe(t *testing.T, s HostSpec) Sample {
	t.Helper()
	p, err := s.Build("host")
	require.NoError(t, err)
	return p.Probe(context.Background())
}

func TestHostProbePercent(t *testing.T) {
	for _, metric := range []string{MetricMemory, MetricDisk} {
		t.Run(metric, func(t *testing.T) {
			s := hostProbe(t, HostSpec{Metric: metric, Max: new(100.0)})
			assert.True(t, s.OK, s.Err)
			assert.Greater(t, s.Value, 0.0)
			assert.LessOrEqual(t, s.Value, 100.0)

			s = hostProbe(t, HostSpec{Metric: metric, Max: new(0.0001)})
			assert.False(t, s.OK)
			assert.Greater(t, s.Value, 0.0001)
			assert.Regexp(t, `^`+metric+` \d+\.\d% used, want at most 0.0001%$`, s.Err)
		})
	}
}

func TestHostProbeDiskPath(t *testing.T) {
	s := hostProbe(t, HostSpec{Metric: MetricDisk, Max: new(100.0), Path: t.TempDir()})
	assert.True(t, s.OK, s.Err)

	s = hostProbe(t, HostSpec{Metric: MetricDisk, Max: new(100.0), Path: "/nonexistent/mount"})
	assert.False(t, s.OK)
	assert.Contains(t, s.Err, "disk: no such file or directory")
}

func TestHostProbeCPU(t *testing.T) {
	p, err := (&HostSpec{Metric: MetricCPU, Max: new(100.0), Window: Duration{20 * time.Millisecond}}).Build("cpu")
	require.NoError(t, err)
	limit := 100.0 * float64(runtime.NumCPU())
	for i := range 3 {
		s := p.Probe(context.Background())
		assert.True(t, s.OK, "attempt %d: %s", i, s.Err)
		assert.GreaterOrEqual(t, s.Value, 0.0)
		assert.LessOrEqual(t, s.Value, limit)
	}
}

func TestHostProbeCPUFirstAttemptHonoursCtx(t *testing.T) {
	p, err := (&HostSpec{Metric: MetricCPU, Max: new(100.0), Window: Duration{time.Hour}}).Build("cpu")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	s := p.Probe(ctx)
	assert.False(t, s.OK)
	assert.Equal(t, "timed out: cpu: context deadline exceeded", s.Err)
}

func TestBusyPercent(t *testing.T) {
	at := func(user, system, idle, iowait float64) cpu.TimesStat {
		return cpu.TimesStat{User: user, System: system, Idle: idle, Iowait: iowait}
	}
	tests := []struct {
		name string
		a, b cpu.TimesStat
		want float64
	}{
		{"idle", at(10, 10, 100, 0), at(10, 10, 200, 0), 0},
		{"half busy", at(10, 10, 100, 0), at(40, 30, 150, 0), 50},
		{"iowait is idle", at(0, 0, 0, 0), at(25, 0, 50, 25), 25},
		{"fully busy", at(0, 0, 0, 0), at(60, 40, 0, 0), 100},
		{"no time passed", at(1, 1, 1, 0), at(1, 1, 1, 0), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.InDelta(t, tt.want, busyPercent(tt.a, tt.b), 1e-9)
		})
	}
}

func TestHostProbeProcess(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	self := filepath.Base(exe)

	s := hostProbe(t, HostSpec{Metric: MetricProcess, ProcessName: self})
	assert.True(t, s.OK, s.Err)
	assert.GreaterOrEqual(t, s.Value, 1.0)

	s = hostProbe(t, HostSpec{Metric: MetricProcess, ProcessName: self, MinCount: 1000})
	assert.False(t, s.OK)
	assert.Contains(t, s.Err, "running, want at least 1000")

	s = hostProbe(t, HostSpec{Metric: MetricProcess, ProcessName: "no-such-proc-4f2a9c"})
	assert.False(t, s.OK)
	assert.Zero(t, s.Value)
	assert.Equal(t, `0 "no-such-proc-4f2a9c" running, want at least 1`, s.Err)
}

func TestHostValidate(t *testing.T) {
	tests := []struct {
		name string
		spec HostSpec
		want []FieldError
	}{
		{name: "cpu", spec: HostSpec{Metric: "cpu", Max: new(80.0), Window: Duration{time.Second}}},
		{name: "disk", spec: HostSpec{Metric: "disk", Max: new(90.0), Path: "/var"}},
		{name: "process", spec: HostSpec{Metric: "process", ProcessName: "postgres", MinCount: 2}},
		{name: "missing metric", want: []FieldError{{"metric", "required: cpu, memory, disk or process"}}},
		{name: "unknown metric", spec: HostSpec{Metric: "gpu"}, want: []FieldError{{"metric", `unknown metric "gpu" (want cpu, memory, disk or process)`}}},
		{name: "missing max", spec: HostSpec{Metric: "memory"}, want: []FieldError{{"max", "required for metric memory: the highest acceptable percent used"}}},
		{name: "max out of range", spec: HostSpec{Metric: "cpu", Max: new(150.0)}, want: []FieldError{{"max", "150 is not a percent (0..100)"}}},
		{name: "missing process name", spec: HostSpec{Metric: "process", MinCount: -1}, want: []FieldError{
			{"process_name", "required for metric process"},
			{"min_count", "-1 is negative"},
		}},
		{name: "keys of other metrics", spec: HostSpec{Metric: "memory", Max: new(50.0), Path: "/", ProcessName: "x", MinCount: 2, Window: Duration{time.Second}}, want: []FieldError{
			{"path", "only for metric disk"},
			{"process_name", "only for metric process"},
			{"min_count", "only for metric process"},
			{"window", "only for metric cpu"},
		}},
		{name: "max for process", spec: HostSpec{Metric: "process", ProcessName: "x", Max: new(1.0)}, want: []FieldError{{"max", "only for metric cpu, memory or disk"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.spec.Validate())
		})
	}
}
