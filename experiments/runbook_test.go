package experiments

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/scenarios"
	"github.com/chaosctl/chaosctl/slo"
)

func phaseNames(j *journal.Journal) string {
	var names []string
	for _, p := range j.Phases {
		names = append(names, string(p.Name))
	}
	return strings.Join(names, ",")
}

// TestRunbookRestoresBeforeRecovery: a fault that stays (poke is not
// reversible) is undone by the runbook, and recovery measures that.
func TestRunbookRestoresBeforeRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var down atomic.Bool
		f := &fakeFault{down: &down}
		sc := minimal(gated(&down), fault("poke", 1, 0))
		sc.Runbook = &scenarios.Runbook{RTO: dur(time.Second)}
		var beforeRan, faultsAtBefore atomic.Int32
		j := Run(context.Background(), sc, Options{
			Log: zerolog.Nop(), Catalog: newCatalog(f),
			RunbookBefore: func(ctx context.Context, _ *scenarios.Scenario, j *journal.Journal, _ Samples) ([]string, error) {
				beforeRan.Add(1)
				faultsAtBefore.Store(int32(len(f.injected)))
				return nil, nil
			},
			Runbook: func(ctx context.Context, _ *scenarios.Scenario, j *journal.Journal, _ Samples) ([]string, error) {
				time.Sleep(150 * time.Millisecond)
				down.Store(false)
				return nil, nil
			},
		})
		if j.Verdict != journal.Passed {
			t.Fatalf("verdict %s %v", j.Verdict, j.Reasons)
		}
		if beforeRan.Load() != 1 || faultsAtBefore.Load() != 0 {
			t.Errorf("before steps ran %d times, with %d faults already injected; want once, before any", beforeRan.Load(), faultsAtBefore.Load())
		}
		if got := phaseNames(j); got != "preflight,steady,runbook-before,inject,runbook,recovery" {
			t.Errorf("phases %s", got)
		}
		if d := *j.Recovery.Duration; d < 150*time.Millisecond {
			t.Errorf("recovery %v, shorter than the runbook's 150ms", d)
		}
	})
}

// TestRunbookBeforeFailureInjectsNothing: a failed backup must not be
// followed by the disaster.
func TestRunbookBeforeFailureInjectsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFault{}
		sc := minimal(up(), fault("break", 1, 50*time.Millisecond))
		sc.Runbook = &scenarios.Runbook{RTO: dur(time.Second)}
		j := Run(context.Background(), sc, Options{
			Log: zerolog.Nop(), Catalog: newCatalog(f),
			RunbookBefore: func(context.Context, *scenarios.Scenario, *journal.Journal, Samples) ([]string, error) {
				return []string{"runbook before step backup failed: exit 1"}, nil
			},
			Runbook: func(context.Context, *scenarios.Scenario, *journal.Journal, Samples) ([]string, error) {
				t.Error("runbook ran after its before steps failed")
				return nil, nil
			},
		})
		if j.Verdict != journal.Failed || len(f.injected) != 0 {
			t.Fatalf("verdict %s injected %v, want failed with nothing injected", j.Verdict, f.injected)
		}
		if r := strings.Join(j.Reasons, ";"); !strings.Contains(r, "backup failed") || !strings.Contains(r, "nothing was injected") {
			t.Errorf("reasons %q", j.Reasons)
		}
	})
}

// TestRunbookFailuresFailTheRun: what the runbook reports fails the run even
// when service recovered.
func TestRunbookFailuresFailTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var down atomic.Bool
		f := &fakeFault{down: &down}
		sc := minimal(gated(&down), fault("break", 1, 50*time.Millisecond))
		sc.Runbook = &scenarios.Runbook{RTO: dur(time.Second)}
		j := Run(context.Background(), sc, Options{
			Log: zerolog.Nop(), Catalog: newCatalog(f),
			Runbook: func(context.Context, *scenarios.Scenario, *journal.Journal, Samples) ([]string, error) {
				return []string{"data check failed"}, nil
			},
		})
		if j.Verdict != journal.Failed || !strings.Contains(strings.Join(j.Reasons, ";"), "data check failed") {
			t.Fatalf("verdict %s %v", j.Verdict, j.Reasons)
		}
	})
}

func TestRecoveredAtExported(t *testing.T) {
	sc := minimal(up())
	t0 := time.Unix(1000, 0)
	var samples []probes.Sample
	for i := range 40 {
		samples = append(samples, probes.Sample{Probe: "p", Time: t0.Add(time.Duration(i) * 10 * time.Millisecond), OK: i >= 10})
	}
	at, pending := slo.RecoveredAt(sc, SliceSamples(samples), t0, t0, t0.Add(time.Second))
	if len(pending) != 0 || !at.Equal(t0.Add(100*time.Millisecond)) {
		t.Errorf("RecoveredAt = %v %v, want +100ms", at.Sub(t0), pending)
	}
	if _, pending := slo.RecoveredAt(sc, SliceSamples(samples[:12]), t0, t0, t0.Add(120*time.Millisecond)); len(pending) != 1 {
		t.Errorf("pending %v, want [s]: the hold window is not over", pending)
	}
	if f := slo.Evaluate(sc.SLOs[0], SliceSamples(samples), t0, t0.Add(time.Second)); f.Held || f.Samples != 40 {
		t.Errorf("figure %+v", f)
	}
}
