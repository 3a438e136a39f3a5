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
)

// statusFault is a fakeFault whose Status is given by the test.
type statusFault struct {
	*fakeFault
	status func(ctx context.Context, data []byte) (plugins.Status, error)
}

func (f statusFault) Status(ctx context.Context, _ string, data []byte) (plugins.Status, error) {
	return f.status(ctx, data)
}

// TestFactCheck runs the engine in simulated time against faults whose
// Status says what each case needs, and checks the verdict and journal.
func TestFactCheck(t *testing.T) {
	tests := []struct {
		name    string
		action  string // break (reversible, 2s) or poke (instantaneous)
		reapply bool
		// status is the fake's Status; n counts its calls.
		status  func(n int, ctx context.Context) (plugins.Status, error)
		verdict journal.Verdict
		effect  string
		reason  string // a reason the journal must give
	}{
		{"in effect", "break", false, func(int, context.Context) (plugins.Status, error) {
			return plugins.Status{Active: true, Detail: "stopped"}, nil
		}, journal.Passed, journal.EffectConfirmed, ""},
		{"did not take effect", "break", false, func(int, context.Context) (plugins.Status, error) {
			return plugins.Status{Detail: "process running (state S)"}, nil
		}, journal.Inconclusive, journal.EffectNotInEffect, "did not take effect: process running (state S)"},
		{"instantaneous confirmed after a while", "poke", false, func(n int, _ context.Context) (plugins.Status, error) {
			return plugins.Status{Active: n >= 3, Detail: "gone"}, nil
		}, journal.Passed, journal.EffectConfirmed, ""},
		{"instantaneous never bites", "poke", false, func(int, context.Context) (plugins.Status, error) {
			return plugins.Status{Detail: "still running"}, nil
		}, journal.Inconclusive, journal.EffectNotInEffect, "did not take effect: still running"},
		{"unimplemented", "break", false, func(int, context.Context) (plugins.Status, error) {
			return plugins.Status{}, plugins.ErrUnimplemented
		}, journal.Passed, journal.EffectUnverified, "effect not verified: the plugin does not implement Status"},
		{"hangs", "break", false, func(_ int, ctx context.Context) (plugins.Status, error) {
			time.Sleep(time.Hour) // ignores its context, as a broken plugin would
			return plugins.Status{}, nil
		}, journal.Passed, journal.EffectUnverified, "effect not verified: Status"},
		{"vanishes while held", "break", false, func(n int, _ context.Context) (plugins.Status, error) {
			return plugins.Status{Active: n < 2, Detail: "resumed by someone"}, nil
		}, journal.Inconclusive, journal.EffectConfirmed, "vanished"},
		{"revert leaves it in place", "break", false, func(int, context.Context) (plugins.Status, error) {
			return plugins.Status{Active: true, Detail: "still stopped"}, nil
		}, journal.Error, journal.EffectConfirmed, "Status says the fault is still in effect: still stopped"},
		{"revert leaves it in place by design", "break", false, func(int, context.Context) (plugins.Status, error) {
			return plugins.Status{Active: true, Detail: "container api-1 is exited", Lasting: true}, nil
		}, journal.Passed, journal.EffectConfirmed, "left in place by design: container api-1 is exited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var down atomic.Bool
				base := &fakeFault{down: &down}
				var calls atomic.Int32
				reverted := func() bool { base.mu.Lock(); defer base.mu.Unlock(); return len(base.reverted) > 0 }
				f := statusFault{fakeFault: base, status: func(ctx context.Context, _ []byte) (plugins.Status, error) {
					n := int(calls.Add(1))
					st, err := tt.status(n, ctx)
					// A lasting effect, and a failed revert, stay after Revert.
					if reverted() && tt.name != "revert leaves it in place" && !st.Lasting && err == nil {
						st.Active = tt.action == "poke" && st.Active
					}
					return st, err
				}}
				d := 2 * time.Second
				if tt.action == "poke" {
					d = 0
				}
				ft := fault(tt.action, 1, d)
				ft.Reapply = tt.reapply
				sc := minimal(up(), ft)
				j := Run(context.Background(), sc, Options{Log: zerolog.Nop(), Catalog: catalogOf{f}})
				if j.Verdict != tt.verdict {
					t.Fatalf("verdict %s %v, want %s", j.Verdict, j.Reasons, tt.verdict)
				}
				got := j.Faults[0]
				if got.Effect != tt.effect {
					t.Errorf("effect %q (%s), want %q", got.Effect, got.EffectDetail, tt.effect)
				}
				if tt.reason != "" {
					all := strings.Join(j.Reasons, "\n") + "\n" + got.EffectDetail + "\n" + got.RevertError + "\n" + strings.Join(got.Notes, "\n")
					if !strings.Contains(all, tt.reason) {
						t.Errorf("journal does not say %q:\n%s", tt.reason, all)
					}
				}
				if len(got.Checks) == 0 {
					t.Errorf("no checks journalled")
				}
				time.Sleep(2 * time.Hour) // let a hung Status give up, in simulated time
			})
		})
	}
}

// undoableFault is in effect from Inject until Revert, or until someone
// else undoes it (undo); a new Inject puts it back.
type undoableFault struct {
	*fakeFault
	active, undone atomic.Bool
}

func (f *undoableFault) Inject(ctx context.Context, req plugins.InjectRequest) ([]byte, error) {
	f.undone.Store(false)
	f.active.Store(true)
	return f.fakeFault.Inject(ctx, req)
}

func (f *undoableFault) Revert(ctx context.Context, a string, data []byte) error {
	f.active.Store(false)
	return f.fakeFault.Revert(ctx, a, data)
}

func (f *undoableFault) Status(context.Context, string, []byte) (plugins.Status, error) {
	if f.undone.Load() {
		return plugins.Status{Detail: "undone by someone else"}, nil
	}
	return plugins.Status{Active: f.active.Load()}, nil
}

// TestVanishedFaultIsReapplied: with reapply, a fault found gone while held
// is injected again, the re-injection is the last fault event, and the run
// can pass.
func TestVanishedFaultIsReapplied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &undoableFault{fakeFault: &fakeFault{}}
		ft := fault("break", 1, 4*time.Second)
		ft.Reapply = true
		sc := minimal(up(), ft)
		go func() {
			time.Sleep(sc.Steady.Duration.Duration + 1500*time.Millisecond)
			f.undone.Store(true)
		}()
		j := Run(context.Background(), sc, Options{Log: zerolog.Nop(), Catalog: catalogOf{f}})
		if j.Verdict != journal.Passed {
			t.Fatalf("verdict %s %v", j.Verdict, j.Reasons)
		}
		got := j.Faults[0]
		if got.VanishedAt == nil || got.Reapplied != 1 || got.ReappliedAt == nil {
			t.Fatalf("vanished %v reapplied %d at %v", got.VanishedAt, got.Reapplied, got.ReappliedAt)
		}
		if len(f.injected) != 2 {
			t.Fatalf("injected %v, want twice", f.injected)
		}
		if j.Recovery == nil || !j.Recovery.LastFaultAt.Equal(*got.RevertedAt) {
			t.Fatalf("last fault event %v, want the revert %v", j.Recovery.LastFaultAt, got.RevertedAt)
		}
	})
}

type catalogByName map[string]plugins.Fault

func (c catalogByName) Lookup(_ context.Context, name string) (plugins.Fault, error) {
	return c[name], nil
}
func (c catalogByName) Names() []string { return []string{"harmless", "killer"} }

// TestLateBitingFaultFails is the false pass: a harmless fault at
// +0s, then a kill with no supervisor at +4s. Service never comes back; the
// run must fail, however well the first hold window held.
func TestLateBitingFaultFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var down atomic.Bool
		harmless, killer := &fakeFault{}, &fakeFault{down: &down}
		first := fault("poke", 1, 0)
		first.Plugin = "harmless"
		second := fault("poke", 1, 0)
		second.Name, second.Plugin, second.After = "kill-api", "killer", dur(4*time.Second)
		sc := minimal(gated(&down), first, second)
		sc.Recovery.HoldFor, sc.Recovery.Within = dur(2*time.Second), dur(5*time.Second)
		j := Run(context.Background(), sc, Options{Log: zerolog.Nop(), Catalog: catalogByName{"harmless": harmless, "killer": killer}})
		if j.Verdict != journal.Failed {
			t.Fatalf("verdict %s %v, want failed: the API never came back", j.Verdict, j.Reasons)
		}
		if j.Recovery.RecoveredAt != nil {
			t.Fatalf("recovered at %v", j.Recovery.RecoveredAt)
		}
		if want := *j.Faults[1].InjectedAt; !j.Recovery.LastFaultAt.Equal(want) {
			t.Fatalf("last fault event %v, want the second injection %v", j.Recovery.LastFaultAt, want)
		}
	})
}

// TestRelapseFails: service recovers, is confirmed, then breaks again
// within observe_after.
func TestRelapseFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var down atomic.Bool
		f := &fakeFault{down: &down}
		sc := minimal(gated(&down), fault("break", 1, 500*time.Millisecond))
		sc.Recovery.HoldFor, sc.Recovery.ObserveAfter = dur(time.Second), dur(2*time.Second)
		var events []RecoveryState
		go func() {
			// Steady 100ms, fault 500ms, confirmed 1s later: break at +2s.
			time.Sleep(sc.Steady.Duration.Duration + 2*time.Second)
			down.Store(true)
		}()
		j := Run(context.Background(), sc, Options{Log: zerolog.Nop(), Catalog: newCatalog(f), Observer: func(ev Event) {
			if ev.Kind == EventRecovery {
				events = append(events, *ev.Recovery)
			}
		}})
		if j.Verdict != journal.Failed {
			t.Fatalf("verdict %s %v, want failed (relapsed)", j.Verdict, j.Reasons)
		}
		rc := j.Recovery
		if rc.RelapsedAt == nil || rc.RecoveredAt == nil || !rc.Recovered {
			t.Fatalf("recovery %+v", rc)
		}
		if r := strings.Join(j.Reasons, ";"); !strings.Contains(r, "relapsed at +") {
			t.Fatalf("reasons %q", r)
		}
		var states []string
		for _, e := range events {
			if n := len(states); n == 0 || states[n-1] != string(e.State) {
				states = append(states, string(e.State))
			}
		}
		if got := strings.Join(states, ","); !strings.HasSuffix(got, "confirming,recovered,relapsed") {
			t.Errorf("live states %s", got)
		}
	})
}
