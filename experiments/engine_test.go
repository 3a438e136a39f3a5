package experiments

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/scenarios"
)

// Fakes for unit tests of the engine's own logic. Real probes and faults
// are proven in test/.

type fakeProber struct{ ok func() bool }

func (p fakeProber) Probe(ctx context.Context) probes.Sample {
	s := probes.Sample{Time: time.Now(), OK: p.ok()}
	s.Latency = time.Since(s.Time)
	if !s.OK {
		s.Err = "down"
	}
	return s
}

type fakeSpec struct{ p probes.Prober }

func (fakeSpec) Validate() []probes.FieldError         { return nil }
func (s fakeSpec) Build(string) (probes.Prober, error) { return s.p, nil }
func up() probes.Spec                                  { return fakeSpec{fakeProber{func() bool { return true }}} }
func gated(down *atomic.Bool) probes.Spec {
	return fakeSpec{fakeProber{func() bool { return !down.Load() }}}
}
func dur(d time.Duration) scenarios.Duration                            { return scenarios.Duration{Duration: d} }
func newCatalog(f *fakeFault) plugins.Catalog                           { return catalog{f} }
func (c catalog) Lookup(context.Context, string) (plugins.Fault, error) { return c.f, nil }
func (c catalog) Names() []string                                       { return []string{"fake"} }

type catalog struct{ f *fakeFault }

type fakeFault struct {
	mu        sync.Mutex
	injected  []string
	reverted  []string
	injectErr error
	revertErr error
	down      *atomic.Bool // set while injected
}

func (f *fakeFault) Describe(context.Context) (plugins.Descriptor, error) {
	return plugins.Descriptor{Name: "fake", Actions: []plugins.Action{{Name: "break", Reversible: true}, {Name: "poke"}}}, nil
}
func (f *fakeFault) Validate(context.Context, string, plugins.Params, plugins.Params) error {
	return nil
}
func (f *fakeFault) Targets(_ context.Context, _ string, _ plugins.Params, sel plugins.Params) ([]plugins.Target, error) {
	n, _ := sel["n"].(int64)
	var out []plugins.Target
	for i := range n {
		out = append(out, plugins.Target{Kind: "fake", ID: string(rune('a' + i))})
	}
	return out, nil
}
func (f *fakeFault) Inject(_ context.Context, req plugins.InjectRequest) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.injectErr != nil {
		return nil, f.injectErr
	}
	f.injected = append(f.injected, req.Target.ID)
	if f.down != nil {
		f.down.Store(true)
	}
	return []byte(req.Target.ID), nil
}
func (f *fakeFault) Revert(_ context.Context, _ string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reverted = append(f.reverted, string(data))
	if f.down != nil {
		f.down.Store(false)
	}
	return f.revertErr
}

// Status tells the truth: a target is in effect from its Inject to its
// Revert (an instantaneous poke stays "bitten").
func (f *fakeFault) Status(_ context.Context, _ string, data []byte) (plugins.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, id := range f.injected {
		if id == string(data) {
			n++
		}
	}
	for _, id := range f.reverted {
		if id == string(data) {
			n--
		}
	}
	return plugins.Status{Active: n > 0, Detail: fmt.Sprintf("%d in effect", n)}, nil
}

func minimal(spec probes.Spec, faults ...scenarios.Fault) *scenarios.Scenario {
	avail := 100.0
	return &scenarios.Scenario{
		Version: 1, Name: "t",
		Steady:   scenarios.Steady{Duration: dur(100 * time.Millisecond)},
		Probes:   []scenarios.Probe{{Name: "p", Kind: "fake", Interval: dur(10 * time.Millisecond), Timeout: dur(10 * time.Millisecond), Spec: spec}},
		SLOs:     []scenarios.SLO{{Name: "s", Probe: "p", Availability: &avail, Window: dur(100 * time.Millisecond)}},
		Faults:   faults,
		Recovery: scenarios.Recovery{Within: dur(time.Second), HoldFor: dur(100 * time.Millisecond), MeasureFrom: "inject"},
		Safety:   scenarios.Safety{MaxTargets: 10, Injection: "parallel", OnEmptySelection: "fail"},
	}
}

func fault(action string, n int64, d time.Duration) scenarios.Fault {
	return scenarios.Fault{Name: action, Plugin: "fake", Action: action, Target: plugins.Params{"n": n}, Duration: dur(d)}
}

func TestRunPassesAndReverts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var down atomic.Bool
		f := &fakeFault{down: &down}
		j := Run(context.Background(), minimal(gated(&down), fault("break", 2, 200*time.Millisecond)), Options{Log: zerolog.Nop(), Catalog: newCatalog(f)})
		if j.Verdict != journal.Passed {
			t.Fatalf("verdict %s %v", j.Verdict, j.Reasons)
		}
		if len(f.injected) != 2 || len(f.reverted) != 2 {
			t.Fatalf("injected %v reverted %v", f.injected, f.reverted)
		}
		if d := *j.Recovery.Duration; d < 200*time.Millisecond || d > 400*time.Millisecond {
			t.Errorf("recovery %v, want about the 200ms outage", d)
		}
		var names []string
		for _, p := range j.Phases {
			names = append(names, string(p.Name))
		}
		if got := strings.Join(names, ","); got != "preflight,steady,inject,observe,recovery" {
			t.Errorf("phases %s", got)
		}
	})
}

func TestRunCancelledStillReverts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var down atomic.Bool
		f := &fakeFault{down: &down}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		j := Run(ctx, minimal(gated(&down), fault("break", 1, time.Hour)), Options{Log: zerolog.Nop(), Catalog: newCatalog(f)})
		if j.Verdict != journal.Aborted {
			t.Fatalf("verdict %s %v", j.Verdict, j.Reasons)
		}
		if len(f.reverted) != 1 || j.Faults[0].RevertedAt == nil {
			t.Fatalf("not reverted: %v %+v", f.reverted, j.Faults[0])
		}
	})
}

func TestRunRevertErrorIsReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFault{revertErr: errors.New("boom")}
		j := Run(context.Background(), minimal(up(), fault("break", 1, 50*time.Millisecond)), Options{Log: zerolog.Nop(), Catalog: newCatalog(f)})
		if j.Verdict != journal.Error || !strings.Contains(strings.Join(j.Reasons, ";"), "boom") {
			t.Fatalf("verdict %s reasons %v", j.Verdict, j.Reasons)
		}
		if j.Faults[0].RevertError != "boom" {
			t.Fatalf("revert error not journalled: %+v", j.Faults[0])
		}
	})
}

func TestRunInjectErrorIsError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFault{injectErr: errors.New("denied")}
		j := Run(context.Background(), minimal(up(), fault("break", 1, 50*time.Millisecond)), Options{Log: zerolog.Nop(), Catalog: newCatalog(f)})
		if j.Verdict != journal.Error || !strings.Contains(strings.Join(j.Reasons, ";"), "denied") {
			t.Fatalf("verdict %s reasons %v", j.Verdict, j.Reasons)
		}
	})
}

func TestRunNotSteady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var down atomic.Bool
		down.Store(true)
		f := &fakeFault{}
		j := Run(context.Background(), minimal(gated(&down), fault("break", 1, 0)), Options{Log: zerolog.Nop(), Catalog: newCatalog(f)})
		if j.Verdict != journal.NotSteady || len(f.injected) != 0 {
			t.Fatalf("verdict %s injected %v", j.Verdict, f.injected)
		}
	})
}

func TestRunMaxTargets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFault{}
		sc := minimal(up(), fault("break", 3, 0))
		sc.Safety.MaxTargets = 2
		j := Run(context.Background(), sc, Options{Log: zerolog.Nop(), Catalog: newCatalog(f)})
		if j.Verdict != journal.Error || !strings.Contains(j.Reasons[0], "max_targets") || len(f.injected) != 0 {
			t.Fatalf("verdict %s reasons %v injected %v", j.Verdict, j.Reasons, f.injected)
		}
	})
}

func TestRunEmptySelection(t *testing.T) {
	for _, mode := range []string{"fail", "skip"} {
		t.Run(mode, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeFault{}
				sc := minimal(up(), fault("break", 0, 0))
				sc.Safety.OnEmptySelection = mode
				j := Run(context.Background(), sc, Options{Log: zerolog.Nop(), Catalog: newCatalog(f)})
				want := map[string]journal.Verdict{"fail": journal.Error, "skip": journal.Inconclusive}[mode]
				if j.Verdict != want {
					t.Fatalf("verdict %s %v, want %s", j.Verdict, j.Reasons, want)
				}
				if r := strings.Join(j.Reasons, ";"); !strings.Contains(r, "selector matched no targets") {
					t.Fatalf("reasons %q do not say the selection was empty", r)
				}
			})
		})
	}
}

type recordingLedger struct {
	mu  sync.Mutex
	ops []string
}

func (l *recordingLedger) add(op string, f journal.Fault) error {
	l.mu.Lock()
	l.ops = append(l.ops, op+":"+f.ID)
	l.mu.Unlock()
	return nil
}
func (l *recordingLedger) Intent(_ context.Context, _ string, f journal.Fault) error {
	return l.add("intent", f)
}
func (l *recordingLedger) Injected(_ context.Context, _ string, f journal.Fault) error {
	return l.add("injected", f)
}
func (l *recordingLedger) Reverted(_ context.Context, _ string, f journal.Fault) error {
	return l.add("reverted", f)
}

func TestLedgerOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &recordingLedger{}
		f := &fakeFault{}
		sc := minimal(up(), fault("break", 1, 20*time.Millisecond), fault("poke", 1, 0))
		sc.Safety.Injection = "serial"
		j := Run(context.Background(), sc, Options{Log: zerolog.Nop(), Catalog: newCatalog(f), Ledger: l})
		if j.Verdict != journal.Passed {
			t.Fatalf("verdict %s %v", j.Verdict, j.Reasons)
		}
		want := "intent:break/0,injected:break/0,reverted:break/0,intent:poke/0,injected:poke/0,reverted:poke/0"
		if got := strings.Join(l.ops, ","); got != want {
			t.Fatalf("ledger ops\n got %s\nwant %s", got, want)
		}
	})
}

// BenchmarkEngineOverhead runs a minimal scenario (one instantaneous fault,
// an always-healthy probe) and reports wall time minus the waits the
// scenario declares (steady duration + hold_for).
func BenchmarkEngineOverhead(b *testing.B) {
	var total time.Duration
	for b.Loop() {
		sc := minimal(up(), fault("poke", 1, 0))
		start := time.Now()
		j := Run(context.Background(), sc, Options{Log: zerolog.Nop(), Catalog: newCatalog(&fakeFault{})})
		wall := time.Since(start)
		if j.Verdict != journal.Passed {
			b.Fatalf("verdict %s %v", j.Verdict, j.Reasons)
		}
		total += wall - sc.Steady.Duration.Duration - sc.Recovery.HoldFor.Duration
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "overhead-ms/run")
}

func TestLockTargets(t *testing.T) {
	t.Run("locked before injection, released after revert", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeFault{}
			var got []string
			released := false
			j := Run(context.Background(), minimal(up(), fault("break", 2, 20*time.Millisecond)), Options{
				Log: zerolog.Nop(), Catalog: newCatalog(f),
				LockTargets: func(_ context.Context, ts []plugins.Target) (func(), error) {
					for _, tg := range ts {
						got = append(got, tg.String())
					}
					f.mu.Lock()
					n := len(f.injected)
					f.mu.Unlock()
					if n != 0 {
						t.Errorf("lock taken after %d injections", n)
					}
					return func() {
						f.mu.Lock()
						defer f.mu.Unlock()
						if len(f.reverted) != 2 {
							t.Errorf("released before revert: reverted %v", f.reverted)
						}
						released = true
					}, nil
				},
			})
			if j.Verdict != journal.Passed || !released {
				t.Fatalf("verdict %s %v released %v", j.Verdict, j.Reasons, released)
			}
			if strings.Join(got, ",") != "fake:a,fake:b" {
				t.Errorf("locked %v", got)
			}
		})
	})
	t.Run("busy target: nothing injected", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeFault{}
			j := Run(context.Background(), minimal(up(), fault("break", 1, 0)), Options{
				Log: zerolog.Nop(), Catalog: newCatalog(f),
				LockTargets: func(context.Context, []plugins.Target) (func(), error) {
					return nil, errors.New("fake:a is busy")
				},
			})
			if j.Verdict != journal.Error || !strings.Contains(j.Reasons[0], "busy") || len(f.injected) != 0 {
				t.Fatalf("verdict %s reasons %v injected %v", j.Verdict, j.Reasons, f.injected)
			}
		})
	})
}

type preparingFault struct{ *fakeFault }

func (preparingFault) Prepare(_ context.Context, req plugins.InjectRequest) ([]byte, error) {
	return []byte("prepared:" + req.Target.ID), nil
}

type intentLedger struct {
	recordingLedger
	intentData []string
}

func (l *intentLedger) Intent(ctx context.Context, id string, f journal.Fault) error {
	l.intentData = append(l.intentData, string(f.RevertData))
	return l.recordingLedger.Intent(ctx, id, f)
}

// TestPreparedRevertDataIsRecordedWithTheIntent: a fault that prepares has
// its revert data in the ledger before Inject runs. When the Inject call
// broke (the plugin died), it is reverted with that data; when the plugin
// answered with an error and no revert data, nothing is reverted.
func TestPreparedRevertDataIsRecordedWithTheIntent(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		wantRevert bool
	}{
		{"plugin died mid-inject", fmt.Errorf("inject: %w", plugins.ErrPluginShutdown), true},
		{"plugin refused", errors.New("container is not running"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeFault{injectErr: tc.err}
				l := &intentLedger{}
				j := Run(context.Background(), minimal(up(), fault("break", 1, time.Second)),
					Options{Log: zerolog.Nop(), Catalog: catalogOf{preparingFault{f}}, Ledger: l})
				if len(l.intentData) != 1 || l.intentData[0] != "prepared:a" {
					t.Fatalf("intent revert data %q, want the prepared data", l.intentData)
				}
				if tc.wantRevert && (len(f.reverted) != 1 || f.reverted[0] != "prepared:a") {
					t.Fatalf("reverted %q: a broken Inject must be undone with the prepared data", f.reverted)
				}
				if !tc.wantRevert && len(f.reverted) != 0 {
					t.Fatalf("reverted %q after the plugin said it changed nothing", f.reverted)
				}
				if j.Verdict != journal.Error {
					t.Fatalf("verdict %s", j.Verdict)
				}
			})
		})
	}
}

type catalogOf struct{ f plugins.Fault }

func (c catalogOf) Lookup(context.Context, string) (plugins.Fault, error) { return c.f, nil }
func (c catalogOf) Names() []string                                       { return []string{"fake"} }

// TestAbortWithFailedRevertIsError: an abort that could not revert leaves a
// fault in place; the verdict must say error (exit 5), not aborted.
func TestAbortWithFailedRevertIsError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFault{revertErr: errors.New("boom")}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		j := Run(ctx, minimal(up(), fault("break", 1, time.Hour)), Options{Log: zerolog.Nop(), Catalog: newCatalog(f)})
		if j.Verdict != journal.Error {
			t.Fatalf("verdict %s %v, want error", j.Verdict, j.Reasons)
		}
		if r := strings.Join(j.Reasons, ";"); !strings.Contains(r, "boom") || strings.Contains(r, "every injected fault was reverted") {
			t.Fatalf("reasons %q", r)
		}
	})
}

// TestStopConditionShorterFaultThanWindow: a fault shorter than the stop
// window that breaks everything still trips the condition.
func TestStopConditionShorterFaultThanWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var down atomic.Bool
		f := &fakeFault{down: &down}
		sc := minimal(gated(&down), fault("break", 1, 3*time.Second))
		sc.Safety.Stop = []scenarios.StopCondition{{Probe: "p", MaxErrorRatio: 50, Window: dur(10 * time.Second)}}
		start := time.Now()
		j := Run(context.Background(), sc, Options{Log: zerolog.Nop(), Catalog: newCatalog(f)})
		if j.Verdict != journal.Aborted || !strings.Contains(j.Reasons[0], "stop condition") {
			t.Fatalf("verdict %s %v, want aborted by the stop condition", j.Verdict, j.Reasons)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("run took %v: the stop condition waited for its full window", d)
		}
		if len(f.reverted) != 1 {
			t.Fatalf("reverted %v", f.reverted)
		}
	})
}
