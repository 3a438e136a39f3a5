package runbooks

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/scenarios"
)

var (
	_ experiments.RunbookFunc = (*Runner)(nil).Before
	_ experiments.RunbookFunc = (*Runner)(nil).Restore
)

func dur(d time.Duration) scenarios.Duration { return scenarios.Duration{Duration: d} }

func cmdStep(name string, argv ...string) scenarios.Step {
	return scenarios.Step{Name: name, Kind: scenarios.StepCommand, Command: argv, Timeout: dur(5 * time.Second), OnFailure: "abort"}
}

// TestCommandHangKilledWithChildren: a hung step is killed at its timeout,
// and the children it started go with it.
func TestCommandHangKilledWithChildren(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "child.pid")
	st := cmdStep("hang", "sh", "-c", "sleep 60 & echo $! > "+pidfile+"; wait")
	st.Timeout = dur(300 * time.Millisecond)
	r := &Runner{Log: zerolog.Nop()}
	start := time.Now()
	s := r.step(context.Background(), st, &env{})
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("step took %v, want it killed at 300ms", took)
	}
	if s.Status != journal.StepFailed || !strings.HasPrefix(s.Error, "timed out after 300ms: sh killed with its process group") {
		t.Fatalf("step = %+v", s)
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(2 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d still alive after the step was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// feed is a growing sample stream, as the engine's recorder gives it.
type feed struct {
	mu      sync.Mutex
	samples []probes.Sample
}

func (f *feed) add(ok bool) {
	f.mu.Lock()
	f.samples = append(f.samples, probes.Sample{Probe: "p", Time: time.Now(), OK: ok, Latency: time.Millisecond})
	f.mu.Unlock()
}

func (f *feed) get(probe string, from, to time.Time) []probes.Sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	return experiments.SliceSamples(f.samples)(probe, from, to)
}

// run feeds samples every 10ms, ok while up() says so, until ctx ends.
func (f *feed) run(ctx context.Context, up func() bool) {
	for ctx.Err() == nil {
		f.add(up())
		time.Sleep(10 * time.Millisecond)
	}
}

func scenario(rto time.Duration, steps ...scenarios.Step) *scenarios.Scenario {
	avail := 100.0
	return &scenarios.Scenario{
		Probes:   []scenarios.Probe{{Name: "p", Timeout: dur(10 * time.Millisecond)}},
		SLOs:     []scenarios.SLO{{Name: "up", Probe: "p", Availability: &avail, Window: dur(100 * time.Millisecond)}},
		Recovery: scenarios.Recovery{HoldFor: dur(100 * time.Millisecond)},
		Runbook:  &scenarios.Runbook{RTO: dur(rto), Steps: steps},
	}
}

// TestWaitStep runs in a synctest bubble: the 200ms until the service is
// up and the windows the wait judges are the bubble's time.
func TestWaitStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &feed{}
		var mu sync.Mutex
		upNow := false
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var fed sync.WaitGroup
		fed.Go(func() { f.run(ctx, func() bool { mu.Lock(); defer mu.Unlock(); return upNow }) })
		time.AfterFunc(200*time.Millisecond, func() { mu.Lock(); upNow = true; mu.Unlock() })
		sc := scenario(time.Second)
		e := &env{sc: sc, samples: f.get, disasterAt: time.Now()}
		r := &Runner{Log: zerolog.Nop()}

		short := scenarios.Step{Name: "w", Kind: "wait", SLO: "up", Timeout: dur(100 * time.Millisecond)}
		if s := r.step(context.Background(), short, e); s.Status != journal.StepFailed || !strings.Contains(s.Error, "still waiting: SLO up") {
			t.Errorf("wait before recovery = %+v, want failed still waiting", s)
		}
		for _, st := range []scenarios.Step{
			{Name: "w", Kind: "wait", SLO: "up", Timeout: dur(2 * time.Second)},
			{Name: "w", Kind: "wait", Probe: "p", Timeout: dur(2 * time.Second)},
		} {
			start := time.Now()
			s := r.step(context.Background(), st, e)
			if s.Status != journal.StepOK {
				t.Fatalf("wait %+v = %+v", st, s)
			}
			if st.SLO != "" && time.Since(start) < 100*time.Millisecond {
				t.Errorf("SLO wait returned after %v, before a full 100ms window of ok samples", time.Since(start))
			}
		}
		cancel()
		fed.Wait()
	})
}

// restoreRun drives Restore against a fed sample stream: the service is
// down from the disaster until the runbook's steps bring it up (or never).
// It runs in a synctest bubble: the RTO and the hold windows are the
// bubble's time, while the steps' commands run for real (time stands still
// while one runs).
func restoreRun(t *testing.T, sc *scenarios.Scenario, up func() bool) *journal.Journal {
	t.Helper()
	var j *journal.Journal
	synctest.Test(t, func(t *testing.T) {
		f := &feed{}
		ctx, cancel := context.WithCancel(context.Background())
		var fed sync.WaitGroup
		fed.Go(func() { f.run(ctx, up) })
		j = &journal.Journal{Faults: []journal.Fault{{IntentAt: time.Now()}}}
		r := &Runner{Log: zerolog.Nop()}
		failures, err := r.Restore(context.Background(), sc, j, f.get)
		cancel()
		fed.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(failures, j.Runbook.Failures) {
			t.Errorf("returned failures %q, journal has %q", failures, j.Runbook.Failures)
		}
	})
	return j
}

func TestRestoreJudgement(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "up")
	isUp := func() bool { _, err := os.Stat(marker); return err == nil }
	bringUp := cmdStep("restart", "touch", marker)

	t.Run("passed", func(t *testing.T) {
		os.Remove(marker)
		sc := scenario(2*time.Second, bringUp)
		dc := cmdStep("data", "test", "-f", marker)
		sc.Runbook.DataCheck = &dc
		rb := restoreRun(t, sc, isUp).Runbook
		if !rb.Passed || !rb.RTOMet || rb.TimeToRestore == nil || rb.DataCheck.Status != journal.StepOK {
			t.Fatalf("runbook = %+v", rb)
		}
		if *rb.TimeToRestore > 2*time.Second {
			t.Errorf("time to restore %v", *rb.TimeToRestore)
		}
	})
	t.Run("steps ok but SLO broken", func(t *testing.T) {
		os.Remove(marker)
		sc := scenario(300*time.Millisecond, cmdStep("noop", "true"))
		dc := cmdStep("data", "true")
		sc.Runbook.DataCheck = &dc
		rb := restoreRun(t, sc, isUp).Runbook
		if rb.Passed || rb.RTOMet || rb.Steps[0].Status != journal.StepOK {
			t.Fatalf("runbook = %+v", rb)
		}
		if got := strings.Join(rb.Failures, ";"); !strings.Contains(got, "not restored within the RTO of 300ms") {
			t.Errorf("failures %q", rb.Failures)
		}
		if rb.DataCheck.Status != journal.StepSkipped {
			t.Errorf("data check %+v, want skipped: service not restored", rb.DataCheck)
		}
	})
	t.Run("abort skips the rest", func(t *testing.T) {
		os.Remove(marker)
		sc := scenario(300*time.Millisecond, cmdStep("restore", "false"), bringUp)
		rb := restoreRun(t, sc, isUp).Runbook
		if rb.Passed || rb.Steps[0].Status != journal.StepFailed || rb.Steps[1].Status != journal.StepSkipped {
			t.Fatalf("steps = %+v", rb.Steps)
		}
		if got := rb.Failures[0]; got != "runbook step restore failed: false: exit 1, want 0" {
			t.Errorf("failure %q", got)
		}
	})
	t.Run("continue runs the rest but still fails", func(t *testing.T) {
		os.Remove(marker)
		bad := cmdStep("restore", "false")
		bad.OnFailure = "continue"
		sc := scenario(2*time.Second, bad, bringUp)
		rb := restoreRun(t, sc, isUp).Runbook
		if rb.Passed || rb.Steps[1].Status != journal.StepOK || !rb.RTOMet {
			t.Fatalf("runbook = %+v", rb)
		}
	})
	t.Run("data check fails", func(t *testing.T) {
		os.Remove(marker)
		sc := scenario(2*time.Second, bringUp)
		dc := cmdStep("marker", "grep", "-q", "x", "/dev/null")
		sc.Runbook.DataCheck = &dc
		rb := restoreRun(t, sc, isUp).Runbook
		if rb.Passed || !rb.RTOMet || rb.DataCheck.Status != journal.StepFailed {
			t.Fatalf("runbook = %+v", rb)
		}
		if got := strings.Join(rb.Failures, ";"); !strings.Contains(got, "data check marker failed: grep: exit 1") {
			t.Errorf("failures %q", rb.Failures)
		}
	})
}

func TestBeforeFailure(t *testing.T) {
	sc := scenario(time.Second, cmdStep("x", "true"))
	sc.Runbook.Before = []scenarios.Step{cmdStep("backup", "false"), cmdStep("marker", "true")}
	j := &journal.Journal{}
	r := &Runner{Log: zerolog.Nop()}
	failures, err := r.Before(context.Background(), sc, j, experiments.SliceSamples(nil))
	if err != nil || len(failures) != 1 || !strings.Contains(failures[0], "runbook before backup failed") {
		t.Fatalf("failures %q err %v", failures, err)
	}
	if j.Runbook.Before[1].Status != journal.StepSkipped {
		t.Errorf("before steps %+v", j.Runbook.Before)
	}
}
