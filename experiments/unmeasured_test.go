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
	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/probes"
)

// blindProber is a probe whose source of truth can go away (Prometheus
// down): while blind is set its samples measure nothing; else the service
// is up unless down is set.
type blindProber struct{ blind, down *atomic.Bool }

func (p blindProber) Probe(context.Context) probes.Sample {
	s := probes.Sample{Time: time.Now(), OK: true}
	switch {
	case p.blind.Load():
		s.OK, s.Err, s.Unmeasured = false, "prometheus unreachable: connection refused", true
	case p.down.Load():
		s.OK, s.Err = false, "down"
	}
	return s
}

// blindFault is a fakeFault that also takes the probe's source of truth
// away while it is in (blind), or leaves the service down after its
// revert (keepDown).
type blindFault struct {
	*fakeFault
	blind    *atomic.Bool
	down     *atomic.Bool
	keepDown bool
}

func (f *blindFault) Inject(ctx context.Context, req plugins.InjectRequest) ([]byte, error) {
	if f.blind != nil {
		f.blind.Store(true)
	}
	return f.fakeFault.Inject(ctx, req)
}

func (f *blindFault) Revert(ctx context.Context, target string, data []byte) error {
	err := f.fakeFault.Revert(ctx, target, data)
	if f.keepDown {
		f.down.Store(true)
	}
	if f.blind != nil {
		f.blind.Store(false)
	}
	return err
}

// A probe that cannot measure is no evidence either way: never a failure
// of the service, never a pass on what was not seen.
func TestUnmeasuredSamples(t *testing.T) {
	tests := []struct {
		name        string
		blindSteady bool // blind from the start
		blindFault  bool // blind while the fault is in
		breaks      bool // the fault breaks the service
		verdict     journal.Verdict
		reason      string
	}{
		{"blind in steady state", true, true, false, journal.NotSteady, "steady state could not be established: SLO s"},
		{"blind during the fault, service up", false, true, false, journal.Inconclusive, "probe p could not measure"},
		{"blind during the fault, service down", false, true, true, journal.Inconclusive, "probe p could not measure"},
		{"seen failing stays failed", false, false, true, journal.Failed, "not recovered"},
		{"seen holding passes", false, false, false, journal.Passed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var blind, down atomic.Bool
				blind.Store(tt.blindSteady)
				f := &blindFault{fakeFault: &fakeFault{}, down: &down}
				if tt.breaks {
					f.fakeFault.down = &down
					f.keepDown = !tt.blindFault // seen down for good: never recovers
				}
				if tt.blindFault {
					f.blind = &blind
				}
				sc := minimal(fakeSpec{blindProber{&blind, &down}}, fault("break", 1, 200*time.Millisecond))
				sc.Recovery.Within = dur(100 * time.Millisecond)
				j := Run(context.Background(), sc, Options{Log: zerolog.Nop(), Catalog: catalogOf{f}})
				if j.Verdict != tt.verdict {
					t.Fatalf("verdict %s %v, want %s", j.Verdict, j.Reasons, tt.verdict)
				}
				if !strings.Contains(strings.Join(j.Reasons, "\n"), tt.reason) {
					t.Errorf("reasons %q, want %q", j.Reasons, tt.reason)
				}
				// The journal keeps them, marked, and its SLO figures count
				// only what was measured.
				unmeasured := 0
				for _, s := range j.Samples {
					if s.Unmeasured {
						unmeasured++
					}
				}
				if (tt.blindSteady || tt.blindFault) != (unmeasured > 0) {
					t.Errorf("%d unmeasured samples in the journal", unmeasured)
				}
				for _, f := range j.SLOs {
					if fig := f.Phases[journal.PhaseSteady]; tt.blindSteady && fig.Samples != 0 {
						t.Errorf("SLO %s counted %d unmeasured samples in steady state", f.Name, fig.Samples)
					}
				}
			})
		})
	}
}
