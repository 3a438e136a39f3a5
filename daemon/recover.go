package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/chaosctl/chaosctl/daemon/store"
	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
)

// reconcile runs once at start, before anything is scheduled or served:
// every fault the ledger does not show as reverted is reverted through its
// plugin, and every run a previous process left running is marked
// interrupted. A revert that fails stays in the ledger and is tried again
// at the next start.
func (d *Daemon) reconcile(ctx context.Context) error {
	pending, err := d.store.Pending()
	if err != nil {
		return fmt.Errorf("read fault ledger: %w", err)
	}
	type outcome struct{ reverted, unknown, failed int }
	byRun := map[string]*outcome{}
	faults := map[string][]journal.Fault{}
	for _, e := range pending {
		f, unknown, err := d.revertPending(ctx, e)
		o := byRun[e.RunID]
		if o == nil {
			o = &outcome{}
			byRun[e.RunID] = o
		}
		log := d.log.With().Str("run_id", e.RunID).Str("fault", f.ID).Str("plugin", f.Plugin).Str("target", f.Target.String()).Logger()
		switch {
		case err != nil:
			o.failed++
			d.locks.quarantine(e.RunID, f.Target)
			log.Error().Err(err).Msg("revert after restart failed; target quarantined; will retry at next start")
			if lerr := d.store.Ledger().Reverted(ctx, e.RunID, f); lerr != nil {
				return fmt.Errorf("record failed revert of %s: %w", f.ID, lerr)
			}
		default:
			if unknown {
				o.unknown++
				log.Error().Msg(experiments.NoteIntentOnly)
			} else {
				o.reverted++
				log.Warn().Msg("fault left by a previous daemon reverted")
			}
			if err := d.store.Resolve(ctx, store.Entry{RunID: e.RunID, Fault: f}); err != nil {
				return fmt.Errorf("record revert of %s: %w", f.ID, err)
			}
		}
		faults[e.RunID] = append(faults[e.RunID], f)
	}

	// Runs still marked running died with the previous process.
	hist, err := d.store.History(0, "")
	if err != nil {
		return fmt.Errorf("read run index: %w", err)
	}
	for _, h := range hist {
		if h.Verdict == journal.Running {
			if byRun[h.RunID] == nil {
				byRun[h.RunID] = &outcome{}
			}
		}
	}
	now := time.Now()
	for runID, o := range byRun {
		j, err := d.store.Run(runID)
		if errors.Is(err, store.ErrNotFound) {
			j = &journal.Journal{Format: journal.FormatVersion, RunID: runID, Verdict: journal.Running, StartedAt: now}
		} else if err != nil {
			return err
		}
		for _, f := range faults[runID] {
			if i := slices.IndexFunc(j.Faults, func(g journal.Fault) bool { return g.ID == f.ID }); i >= 0 {
				j.Faults[i] = f
			} else {
				j.Faults = append(j.Faults, f)
			}
		}
		msg := fmt.Sprintf("on restart the daemon reverted %d fault(s) left active", o.reverted)
		if o.unknown > 0 {
			msg += fmt.Sprintf("; %d fault(s) in unknown state (intent recorded, no revert data): check the targets", o.unknown)
		}
		if o.failed > 0 {
			msg += fmt.Sprintf("; %d revert(s) FAILED and will be retried at the next start", o.failed)
		}
		if j.Verdict == journal.Running {
			j.Verdict = journal.Interrupted
			j.EndedAt = now
			j.Reasons = append(j.Reasons, "the daemon stopped mid-run (crash, kill -9 or power loss); "+msg)
			d.metrics.Runs.WithLabelValues(j.Scenario, string(journal.Interrupted)).Inc()
		} else {
			j.Reasons = append(j.Reasons, msg)
		}
		if err := d.store.PutRun(j); err != nil {
			return err
		}
		d.log.Warn().Str("run_id", runID).Str("scenario", j.Scenario).Str("verdict", string(j.Verdict)).
			Int("reverted", o.reverted).Int("unknown", o.unknown).Int("failed", o.failed).Msg("run reconciled after restart")
	}
	return nil
}

// revertPending reverts one ledger entry through its plugin and returns
// the fault with the outcome noted.
func (d *Daemon) revertPending(ctx context.Context, e store.Entry) (journal.Fault, bool, error) {
	return experiments.RevertLeftover(ctx, d.catalog, e.Fault, d.cfg.Defaults.RevertTimeout.Duration,
		"the daemon on restart after the previous daemon died")
}
