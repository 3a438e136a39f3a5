package experiments

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/daemon/store"
	"github.com/chaosctl/chaosctl/internal/memlimit"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/scenarios"
	"github.com/chaosctl/chaosctl/slo"
)

// longRunEnv makes the re-executed test binary simulate a long run in the
// directory it names: the benchmark reads that process's peak RSS, which
// nothing else in the package's tests has touched.
const longRunEnv = "CHAOSCTL_EXPERIMENTS_LONGRUN_DIR"

// The simulated run: 10 probes at 10 Hz for 6 hours, 2.16 million samples.
const (
	simProbes   = 10
	simInterval = 100 * time.Millisecond
	simLength   = 6 * time.Hour
)

// BenchmarkLongRunRSS is a 6-hour run of 10 probes at 10 Hz, simulated:
// synthetic samples go through the recorder and the sample log the daemon
// uses, the SLOs are evaluated as the run goes (the live figures every
// 500 ms) and at its end (per-phase figures), and the journal is stored in
// a daemon store. It reports the peak RSS of the process that did it.
func BenchmarkLongRunRSS(b *testing.B) {
	for range b.N {
		dir := b.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestLongRunSimulated$", "-test.count=1")
		cmd.Env = append(os.Environ(), longRunEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("simulated run: %v\n%s", err, out)
		}
		ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		if !ok {
			b.Skip("no rusage on this platform")
		}
		b.ReportMetric(float64(ru.Maxrss)/1024, "MiB-rss") // Maxrss is in KiB on Linux
		b.ReportMetric(float64(simLength/simInterval*simProbes), "samples")
	}
}

// TestLongRunSimulated is the body of BenchmarkLongRunRSS; it runs only in
// the process the benchmark starts.
func TestLongRunSimulated(t *testing.T) {
	dir := os.Getenv(longRunEnv)
	if dir == "" {
		t.Skip("run by BenchmarkLongRunRSS in a process of its own")
	}
	memlimit.Apply() // as the daemon does
	st, err := store.Open(filepath.Join(dir, "store.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sc, r := simulatedRun(t, st)

	// Steady state 10 minutes, then a fault of 5 hours that fails 20% of
	// the attempts, then recovery.
	t0 := r.j.StartedAt
	steadyEnd := t0.Add(sc.Steady.Duration.Duration)
	fw := faultWindow{start: steadyEnd, end: steadyEnd.Add(5 * time.Hour), injected: 1}
	fw.lastInjected = fw.start
	errs := []string{"connection refused", "context deadline exceeded", "HTTP 503"}
	steps := int(simLength / simInterval)
	for k := range steps {
		now := t0.Add(time.Duration(k) * simInterval)
		for p := range simProbes {
			start := now.Add(time.Duration(p) * time.Millisecond)
			h := uint32(k*simProbes+p) * 2654435761 // a cheap, fixed scramble
			s := probes.Sample{Probe: fmt.Sprintf("p%d", p), Time: start, OK: true, Value: 200,
				Latency: 2*time.Millisecond + time.Duration(h%5000)*time.Microsecond}
			if !start.Before(fw.start) && start.Before(fw.end) && h%5 == 0 {
				s.OK, s.Value, s.Err = false, 0, errs[h%3]
				s.Latency = time.Second
			}
			r.rec.add(s)
		}
		if k%5 == 0 { // the live SLO figures, every 500 ms
			for _, o := range r.objs {
				_ = r.rec.figure(o, now.Add(-o.Window), now) // as emitSLOs does
			}
		}
	}
	end := t0.Add(simLength)
	recovered := fw.end.Add(2 * time.Second)
	r.j.Recovery = &journal.Recovery{MeasuredFrom: "revert", From: fw.end, RecoveredAt: &recovered}
	r.figures(t0, fw, end)
	r.finish(journal.Passed, nil)
	if err := st.PutRun(r.j); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Run(r.j.RunID); err != nil || got.RunID != r.j.RunID {
		t.Fatalf("stored journal: %v", err)
	}
	if len(r.j.SLOs) != simProbes || r.j.SLOs[0].Phases[journal.PhaseFault].Samples == 0 {
		t.Fatalf("figures: %+v", r.j.SLOs)
	}
	if r.j.SamplesTotal != steps*simProbes || r.j.SampleLog == "" || len(r.j.Samples) > 3*journalPoints*simProbes {
		t.Fatalf("journal keeps %d samples of %d, log %q", len(r.j.Samples), r.j.SamplesTotal, r.j.SampleLog)
	}
}

// simulatedRun is a run set up as Run sets it up, for samples fed by hand.
func simulatedRun(t *testing.T, st *store.Store) (*scenarios.Scenario, *run) {
	t.Helper()
	avail, pct := 99.0, 99.0
	sc := &scenarios.Scenario{Name: "long", Steady: scenarios.Steady{Duration: probes.Duration{Duration: 10 * time.Minute}}}
	for p := range simProbes {
		name := fmt.Sprintf("p%d", p)
		sc.Probes = append(sc.Probes, scenarios.Probe{Name: name, Interval: probes.Duration{Duration: simInterval}})
		sc.SLOs = append(sc.SLOs, scenarios.SLO{Name: name, Probe: name, Availability: &avail,
			LatencyPercentile: &pct, LatencyMax: probes.Duration{Duration: 300 * time.Millisecond},
			Window: probes.Duration{Duration: 5 * time.Second}})
	}
	id := NewRunID()
	r := &run{
		sc: sc, opts: Options{RunID: id},
		j:      &journal.Journal{Format: journal.FormatVersion, RunID: id, Scenario: sc.Name, StartedAt: time.Now(), Verdict: journal.Running},
		events: make(chan Event, 4096),
		evDone: make(chan struct{}),
	}
	for _, s := range sc.SLOs {
		r.objs = append(r.objs, slo.New(s))
	}
	sink, err := st.CreateSampleLog(id)
	if err != nil {
		t.Fatal(err)
	}
	r.rec = newRecorder(sink, nil)
	go r.dispatch()
	return sc, r
}
