package experiments

import (
	"context"
	"fmt"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins"
)

// NoteIntentOnly is what a ledger says of a fault whose intent was recorded
// but whose injection never reported back, and that had no prepared revert
// data: nothing can undo it, so it is recorded as unknown, loudly, never
// as reverted.
const NoteIntentOnly = "intent only: the runner died after recording the intent and before the plugin returned; state unknown, no revert data to revert with"

// RevertLeftover reverts a fault that a dead runner left in its ledger,
// through a fresh instance of its plugin and from its revert data alone.
// by says who reverts, for the journal's note. The returned fault carries
// the outcome: RevertedAt, or RevertError (always set on failure, so that
// a ledger keeps the fault pending). unknown is true for an intent-only
// fault, which cannot be reverted.
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
