package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins"
)

// LedgerTimeout bounds one ledger write made after the run's context ended.
const LedgerTimeout = 10 * time.Second

// NoteStateUnknown is what the journal says of a fault whose Inject call
// broke (the plugin died, the call timed out) with no revert data to undo
// it. It is kept in the ledger, never recorded as reverted.
const NoteStateUnknown = "state unknown: the Inject call broke without an answer and there is no revert data to undo what it may have done"

// Forward is the forward half of the protocol for one run. The engine
// calls its steps in order for every fault and keeps the journal; Forward
// keeps the ledger and the bounds:
//
//	Prepare (the plugin's own, before Intent) -> Intent -> Inject ->
//	Injected -> (hold) -> Revert -> Resolve
//
// A fault that was never injected, or is instantaneous, goes straight from
// its Inject to Resolve.
type Forward struct {
	Ledger        Ledger
	RunID         string
	InjectTimeout time.Duration // bounds Inject; the run's cancellation does not cut it short
	RevertTimeout time.Duration // bounds Revert; runs whatever the run's context says
}

// Intent records f, with the revert data prepared for it, before anything
// is injected.
func (fw Forward) Intent(ctx context.Context, f journal.Fault) error {
	if err := fw.Ledger.Intent(ctx, fw.RunID, f); err != nil {
		return fmt.Errorf("record intent of %s on %s: %w", f.Name, f.Target, err)
	}
	return nil
}

// InjectOutcome says what an Inject left behind.
type InjectOutcome int

const (
	// Injected: the fault is in (as far as the plugin says); revert data returned.
	Injected InjectOutcome = iota
	// Refused: the plugin answered with an error and no revert data: it
	// changed nothing, and nothing is reverted.
	Refused
	// Partial: an error with revert data (the plugin's own, or the data
	// prepared before a call that broke): what was done must be undone.
	Partial
	// Unknown: the call broke without an answer and there is no revert
	// data: nothing can undo it.
	Unknown
)

// Inject runs the plugin's Inject to its end under InjectTimeout, even when
// ctx is cancelled, so that no revert ever runs beside it: a docker stop
// that completes after an abort is then undone, not left behind. It
// returns the revert data to keep, what the call left behind, and its error.
func (fw Forward) Inject(ctx context.Context, flt plugins.Fault, req plugins.InjectRequest) ([]byte, InjectOutcome, error) {
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fw.InjectTimeout)
	defer cancel()
	rd, err := flt.Inject(ictx, req)
	broken := err != nil && BrokenCall(err)
	if rd == nil && (err == nil || broken) {
		// Only when the call itself broke is the state unknown; then the
		// prepared data is what undoes whatever was done.
		rd = req.Prepared
	}
	switch {
	case err == nil:
		return rd, Injected, nil
	case broken && rd == nil:
		return nil, Unknown, err
	case rd != nil:
		return rd, Partial, err
	}
	return nil, Refused, err
}

// Injected records f's revert data once it is injected (and again after a
// re-injection).
func (fw Forward) Injected(ctx context.Context, f journal.Fault) error {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), LedgerTimeout)
	defer cancel()
	if err := fw.Ledger.Injected(lctx, fw.RunID, f); err != nil {
		return fmt.Errorf("ledger: record injection of %s: %w", f.ID, err)
	}
	return nil
}

// Revert undoes f from its revert data under RevertTimeout, whatever state
// ctx is in, then asks verify (the fact check) when Revert said it
// succeeded. It returns when the revert took effect, and why it failed.
func (fw Forward) Revert(ctx context.Context, flt plugins.Fault, f journal.Fault, verify func(context.Context) error) (time.Time, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fw.RevertTimeout)
	defer cancel()
	err := flt.Revert(rctx, f.Action, f.RevertData)
	at := time.Now() // when the revert took effect, not when it was verified
	if err == nil && verify != nil {
		err = verify(ctx)
	}
	return at, err
}

// Resolve records f's end: resolved, or kept pending for the backward half
// when f carries a RevertError (a failed revert, a state unknown). It has
// its own deadline: a revert that used up its time must still be recorded.
func (fw Forward) Resolve(ctx context.Context, f journal.Fault) error {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), LedgerTimeout)
	defer cancel()
	if err := fw.Ledger.Reverted(lctx, fw.RunID, f); err != nil {
		return fmt.Errorf("ledger: close %s: %w", f.ID, err)
	}
	return nil
}

// BrokenCall reports whether a plugin call failed without the plugin
// answering (it died, the call was cancelled or timed out), so that what
// it did is unknown.
func BrokenCall(err error) bool {
	return errors.Is(err, plugins.ErrPluginShutdown) || errors.Is(err, plugins.ErrCanceled) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
