// Package lifecycle is the one home of chaosctl's promise that nothing is
// left injected, whatever happens. A fault goes through one protocol over
// one ledger:
//
//	forward, in a run:   prepare -> intent -> inject -> hold -> revert -> resolved
//	backward, after the runner died or a revert failed:
//	                     pending -> revert -> resolved (or kept, to retry)
//	                     and the dead run's journal marked interrupted
//
// The engine (experiments) drives the forward half through Ledger; the
// daemon's start-up reconcile, its retry loop, `chaosctl recover` and every
// local `chaosctl run` drive the backward half through Recover. The ledger
// is the daemon's bbolt store or a local run's ledger files (journal).
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins"
)

// Ledger records a run's faults durably, in the forward direction: Intent
// before a fault is injected, Injected with its revert data (again after a
// re-injection), Reverted when it is undone. A fault recorded as reverted
// with a RevertError stays pending: the backward half retries it.
type Ledger interface {
	Intent(ctx context.Context, runID string, f journal.Fault) error
	Injected(ctx context.Context, runID string, f journal.Fault) error
	Reverted(ctx context.Context, runID string, f journal.Fault) error
}

// Backlog is a ledger read backward: the faults not resolved, and where
// their outcome goes.
type Backlog interface {
	// Pending lists the faults of runs that are gone (or whose revert
	// failed) and are not resolved.
	Pending(ctx context.Context) ([]Pending, error)
	// Resolve records that p is done: f carries the outcome (RevertedAt,
	// or the note of a state that cannot be known). It never records an
	// unknown state as reverted.
	Resolve(ctx context.Context, p Pending, f journal.Fault) error
	// Keep records a failed revert of p (f.RevertError set): it stays
	// pending, to be tried again.
	Keep(ctx context.Context, p Pending, f journal.Fault) error
	// Interrupted completes the run's journal with what the backward half
	// did, and marks it interrupted when the run died before its verdict.
	Interrupted(ctx context.Context, o Outcome) error
}

// Pending is one fault left unresolved.
type Pending struct {
	RunID    string
	Scenario string
	Journal  string // a local run's journal path, as the user asked for it; "" in the daemon's store
	Failed   bool   // a revert was tried and failed
	Fault    journal.Fault
}

// NoLedger journals faults only: a run without a durable ledger (tests,
// dry runs).
type NoLedger struct{}

var _ Ledger = NoLedger{}

func (NoLedger) Intent(context.Context, string, journal.Fault) error   { return nil }
func (NoLedger) Injected(context.Context, string, journal.Fault) error { return nil }
func (NoLedger) Reverted(context.Context, string, journal.Fault) error { return nil }

// NoteIntentOnly is what is said of a fault whose intent was recorded but
// whose injection never reported back, and that had no prepared revert
// data: nothing can undo it, so it is recorded as unknown, loudly, never
// as reverted.
const NoteIntentOnly = "intent only: the runner died after recording the intent and before the plugin returned; state unknown, no revert data to revert with"

// RevertLeftover reverts a fault left pending, through a fresh instance of
// its plugin and from its revert data alone. by says who reverts, for the
// journal's note. The returned fault carries the outcome: RevertedAt, or
// RevertError (always set on failure, so that a ledger keeps it pending).
// unknown is true for an intent-only fault, which cannot be reverted.
func RevertLeftover(ctx context.Context, cat plugins.Catalog, f journal.Fault, timeout time.Duration, by string) (out journal.Fault, unknown bool, err error) {
	now := time.Now()
	if len(f.RevertData) == 0 {
		f.RevertError = NoteIntentOnly
		f.Notes = append(f.Notes, NoteIntentOnly)
		return f, true, nil
	}
	flt, err := cat.Lookup(ctx, f.Plugin)
	if err != nil {
		f.RevertError = fmt.Sprintf("plugin %s unavailable: %v", f.Plugin, err)
		f.Notes = append(f.Notes, fmt.Sprintf("%s: revert by %s failed: %v", now.Format(time.RFC3339), by, err))
		return f, false, fmt.Errorf("plugin %s: %w", f.Plugin, err)
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := flt.Revert(rctx, f.Action, f.RevertData); err != nil {
		f.RevertError = err.Error()
		f.Notes = append(f.Notes, fmt.Sprintf("%s: revert by %s failed: %v", now.Format(time.RFC3339), by, err))
		return f, false, fmt.Errorf("revert %s on %s: %w", f.Name, f.Target, err)
	}
	done := time.Now()
	f.RevertedAt = &done
	f.RevertError = ""
	f.Notes = append(f.Notes, "reverted by "+by)
	return f, false, nil
}

// Recovery says how Recover works.
type Recovery struct {
	Catalog plugins.Catalog
	Timeout time.Duration // each revert; default 30s
	By      string        // who reverts, for the journal's notes
	Log     zerolog.Logger
	// Skip leaves the faults of a run alone (a run the daemon is running).
	Skip func(runID string) bool
	// OnlyChanged calls Interrupted only for runs where a fault was
	// resolved: a retry loop must not note every failed attempt.
	OnlyChanged bool
}

// Outcome is what Recover did for one run.
type Outcome struct {
	RunID    string `json:"run_id"`
	Scenario string `json:"scenario"`
	Journal  string `json:"journal,omitempty"`
	// SampleLog is the dead run's samples, which its journal names; set
	// by callers that know where runs keep them.
	SampleLog string          `json:"sample_log,omitempty"`
	Reverted  int             `json:"reverted"`
	Unknown   int             `json:"unknown"`
	Failed    int             `json:"failed"`
	Faults    []journal.Fault `json:"-"`
}

// Message says in one sentence what recovery did for the run.
func (o Outcome) Message(by string) string {
	msg := fmt.Sprintf("%s reverted %d fault(s) left active", by, o.Reverted)
	if o.Unknown > 0 {
		msg += fmt.Sprintf("; %d fault(s) in unknown state (intent recorded, no revert data): check the targets", o.Unknown)
	}
	if o.Failed > 0 {
		msg += fmt.Sprintf("; %d revert(s) FAILED and are kept to be retried", o.Failed)
	}
	return msg
}

// Recover is the backward half: every pending fault of b is reverted from
// its revert data and resolved, or kept when the revert fails; then every
// run concerned has its journal completed (and marked interrupted if it
// died). A failed revert never stops the others: it is logged at error
// level and counted in its run's Outcome (Failed). The error returned is
// the ledger's: a fault whose outcome could not be recorded.
func Recover(ctx context.Context, b Backlog, rv Recovery) ([]Outcome, error) {
	if rv.Timeout <= 0 {
		rv.Timeout = 30 * time.Second
	}
	pending, err := b.Pending(ctx)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	byRun := map[string]*Outcome{}
	var order []string
	for _, p := range pending {
		if rv.Skip != nil && rv.Skip(p.RunID) {
			continue
		}
		o := byRun[p.RunID]
		if o == nil {
			o = &Outcome{RunID: p.RunID, Scenario: p.Scenario, Journal: p.Journal}
			byRun[p.RunID] = o
			order = append(order, p.RunID)
		}
		f, unknown, err := RevertLeftover(ctx, rv.Catalog, p.Fault, rv.Timeout, rv.By)
		log := rv.Log.With().Str("run_id", p.RunID).Str("fault", f.ID).Str("plugin", f.Plugin).Str("target", f.Target.String()).Logger()
		switch {
		case err != nil:
			o.Failed++
			log.Error().Err(err).Msg("revert of a fault left pending failed; it is kept and retried")
			if kerr := b.Keep(ctx, p, f); kerr != nil {
				errs = append(errs, fmt.Errorf("record failed revert of %s: %w", f.ID, kerr))
			}
		case unknown:
			o.Unknown++
			log.Error().Msg(NoteIntentOnly)
			if rerr := b.Resolve(ctx, p, f); rerr != nil {
				errs = append(errs, fmt.Errorf("record %s: %w", f.ID, rerr))
			}
		default:
			o.Reverted++
			log.Warn().Msg("fault left pending reverted")
			if rerr := b.Resolve(ctx, p, f); rerr != nil {
				errs = append(errs, fmt.Errorf("record revert of %s: %w", f.ID, rerr))
			}
		}
		o.Faults = append(o.Faults, f)
	}
	out := make([]Outcome, 0, len(order))
	for _, id := range order {
		o := *byRun[id]
		if !rv.OnlyChanged || o.Reverted+o.Unknown > 0 {
			if err := b.Interrupted(ctx, o); err != nil {
				errs = append(errs, fmt.Errorf("journal of run %s: %w", id, err))
			}
		}
		out = append(out, o)
	}
	return out, errors.Join(errs...)
}
