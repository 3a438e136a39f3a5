package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins"
)

// fakeFault is a plugin whose Inject and Revert answer what a case says.
type fakeFault struct {
	plugins.Fault
	injectRD  []byte
	injectErr error
	revertErr map[string]error // by revert data
	reverted  []string
	sawCancel bool
}

func (f *fakeFault) Inject(ctx context.Context, _ plugins.InjectRequest) ([]byte, error) {
	f.sawCancel = ctx.Err() != nil
	return f.injectRD, f.injectErr
}

func (f *fakeFault) Revert(_ context.Context, _ string, rd []byte) error {
	f.reverted = append(f.reverted, string(rd))
	return f.revertErr[string(rd)]
}

func TestForwardInjectOutcomes(t *testing.T) {
	broke := fmt.Errorf("inject: %w", plugins.ErrPluginShutdown)
	refused := errors.New("container is not running")
	tests := []struct {
		name     string
		rd       []byte
		err      error
		prepared []byte
		want     InjectOutcome
		wantRD   string
	}{
		{"injected", []byte("rd"), nil, nil, Injected, "rd"},
		{"injected with prepared data only", nil, nil, []byte("prep"), Injected, "prep"},
		{"refused: changed nothing", nil, refused, []byte("prep"), Refused, ""},
		{"partial: error with revert data", []byte("half"), refused, nil, Partial, "half"},
		{"broke, prepared data undoes it", nil, broke, []byte("prep"), Partial, "prep"},
		{"broke, nothing to undo it with", nil, broke, nil, Unknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeFault{injectRD: tt.rd, injectErr: tt.err}
			fw := Forward{Ledger: NoLedger{}, InjectTimeout: time.Minute}
			rd, got, err := fw.Inject(context.Background(), f, plugins.InjectRequest{Prepared: tt.prepared})
			if got != tt.want || string(rd) != tt.wantRD || !errors.Is(err, tt.err) {
				t.Fatalf("Inject = %q %v %v, want %q %v %v", rd, got, err, tt.wantRD, tt.want, tt.err)
			}
		})
	}
}

// TestForwardInjectIgnoresCancellation: a cancelled run does not cut an
// Inject short (its revert would otherwise race it).
func TestForwardInjectIgnoresCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := &fakeFault{injectRD: []byte("rd")}
	if _, got, _ := (Forward{Ledger: NoLedger{}, InjectTimeout: time.Minute}).Inject(ctx, f, plugins.InjectRequest{}); got != Injected || f.sawCancel {
		t.Fatalf("outcome %v, plugin saw a cancelled context: %v", got, f.sawCancel)
	}
}

// backlog is an in-memory Backlog.
type backlog struct {
	pending     []Pending
	resolved    map[string]journal.Fault
	kept        map[string]journal.Fault
	interrupted []Outcome
}

func (b *backlog) Pending(context.Context) ([]Pending, error) { return b.pending, nil }
func (b *backlog) Resolve(_ context.Context, p Pending, f journal.Fault) error {
	b.resolved[p.Fault.ID] = f
	return nil
}
func (b *backlog) Keep(_ context.Context, p Pending, f journal.Fault) error {
	b.kept[p.Fault.ID] = f
	return nil
}
func (b *backlog) Interrupted(_ context.Context, o Outcome) error {
	b.interrupted = append(b.interrupted, o)
	return nil
}

type catalog struct{ f plugins.Fault }

func (c catalog) Lookup(context.Context, string) (plugins.Fault, error) { return c.f, nil }
func (c catalog) Names() []string                                       { return []string{"p"} }

func TestRecover(t *testing.T) {
	fault := func(id, rd string) journal.Fault {
		f := journal.Fault{ID: id, Name: id, Plugin: "p", Action: "a"}
		if rd != "" {
			f.RevertData = []byte(rd)
		}
		return f
	}
	newBacklog := func() *backlog {
		return &backlog{
			pending: []Pending{
				{RunID: "r1", Fault: fault("ok", "ok")},
				{RunID: "r1", Fault: fault("fails", "fails")},
				{RunID: "r2", Fault: fault("intent-only", "")},
				{RunID: "live", Fault: fault("live", "live")},
			},
			resolved: map[string]journal.Fault{}, kept: map[string]journal.Fault{},
		}
	}
	f := &fakeFault{revertErr: map[string]error{"fails": errors.New("boom")}}
	b := newBacklog()
	outs, err := Recover(context.Background(), b, Recovery{Catalog: catalog{f}, Log: zerolog.Nop(), By: "test",
		Skip: func(id string) bool { return id == "live" }})
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 || outs[0].Reverted != 1 || outs[0].Failed != 1 || outs[1].Unknown != 1 {
		t.Fatalf("outcomes %+v", outs)
	}
	if g := b.resolved["ok"]; g.RevertedAt == nil {
		t.Errorf("ok fault resolved as %+v, want reverted", g)
	}
	if g, ok := b.resolved["intent-only"]; !ok || g.RevertedAt != nil || g.RevertError == "" {
		t.Errorf("intent-only fault %+v: want resolved as unknown, never reverted", g)
	}
	if g, ok := b.kept["fails"]; !ok || g.RevertError == "" {
		t.Errorf("failed revert %+v: want kept with its error", g)
	}
	if _, ok := b.resolved["live"]; ok || len(f.reverted) != 2 {
		t.Errorf("a live run's fault was touched (reverted %v)", f.reverted)
	}
	if len(b.interrupted) != 2 {
		t.Errorf("interrupted %d runs, want both", len(b.interrupted))
	}

	// A retry loop only notes runs where something was resolved.
	b = newBacklog()
	b.pending = b.pending[1:2] // only the failing one
	if _, err := Recover(context.Background(), b, Recovery{Catalog: catalog{f}, Log: zerolog.Nop(), OnlyChanged: true}); err != nil {
		t.Fatal(err)
	}
	if len(b.interrupted) != 0 {
		t.Errorf("a retry that changed nothing noted %d journals", len(b.interrupted))
	}
}
