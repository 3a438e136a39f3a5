package cli

import (
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins"
)

func TestRecoveryLine(t *testing.T) {
	tests := []struct {
		rs   experiments.RecoveryState
		want string
	}{
		{experiments.RecoveryState{State: experiments.RecoveryWaiting, Pending: []string{"api", "db"}}, "✗ not recovered yet: api, db not holding"},
		{experiments.RecoveryState{State: experiments.RecoveryConfirming, At: 300 * time.Millisecond, Elapsed: 1200 * time.Millisecond, Need: 2 * time.Second},
			"✓ recovered at +300ms, confirming 1.2s/2.0s"},
		{experiments.RecoveryState{State: experiments.RecoveryWatching, At: 300 * time.Millisecond, Elapsed: 3 * time.Second, Need: 2 * time.Second},
			"✓ recovered at +300ms, confirmed; watching for a relapse 2.0s/2.0s"},
		{experiments.RecoveryState{State: experiments.RecoveryRelapsed, At: 300 * time.Millisecond, Relapsed: 2100 * time.Millisecond, SLO: "api"},
			"✗ recovered at +300ms, relapsed at +2.1s (SLO api)"},
	}
	for _, tt := range tests {
		if got := recoveryLine(&tt.rs); got != tt.want {
			t.Errorf("recoveryLine(%s) = %q, want %q", tt.rs.State, got, tt.want)
		}
	}
}

func TestFaultLine(t *testing.T) {
	at := time.Unix(100, 0)
	later := at.Add(time.Second)
	base := journal.Fault{ID: "f/0", Name: "f", Plugin: "process", Action: "pause", Target: plugins.Target{Kind: "process", ID: "42"}, InjectedAt: &at}
	with := func(fn func(*journal.Fault)) *journal.Fault { f := base; fn(&f); return &f }
	tests := []struct {
		f    *journal.Fault
		want string
	}{
		{&base, "⚡ injected process.pause on process:42"},
		{with(func(f *journal.Fault) { f.Effect, f.EffectDetail = journal.EffectConfirmed, "stopped" }), "✓ f on process:42: effect confirmed: stopped"},
		{with(func(f *journal.Fault) {
			f.Effect, f.EffectDetail = journal.EffectNotInEffect, "did not take effect: running"
		}), "✗ f on process:42 did not take effect: running"},
		{with(func(f *journal.Fault) { f.Effect, f.VanishedAt = journal.EffectConfirmed, &later }), "✗ f on process:42 vanished while held"},
		{with(func(f *journal.Fault) { f.RevertedAt, f.RevertError = &later, "still stopped" }), "✗ revert f on process:42 failed: still stopped"},
	}
	for _, tt := range tests {
		if got := faultLine(tt.f); got != tt.want {
			t.Errorf("faultLine = %q, want %q", got, tt.want)
		}
	}
}
