package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/daemon/store"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/lifecycle"
)

// reconcile runs once at start, before anything is scheduled or served:
// every fault the ledger does not show as reverted is reverted through its
// plugin (lifecycle.Recover), and every run a previous process left
// running is marked interrupted. A revert that fails stays in the ledger,
// its target quarantined, and the retry loop tries it again.
func (d *Daemon) reconcile(ctx context.Context) error {
	b := storeBacklog{d: d, by: "the daemon on restart"}
	outs, err := lifecycle.Recover(ctx, b, lifecycle.Recovery{
		Catalog: d.catalog, Timeout: d.cfg.Defaults.RevertTimeout.Duration, Log: d.log,
		By: "the daemon on restart after the previous daemon died",
	})
	if err != nil {
		return fmt.Errorf("fault ledger in %s: %w", d.store.Path(), err)
	}
	seen := map[string]bool{}
	for _, o := range outs {
		seen[o.RunID] = true
	}
	// Runs still marked running died with the previous process.
	hist, err := d.store.History(0, "")
	if err != nil {
		return fmt.Errorf("read run index: %w", err)
	}
	for _, h := range hist {
		if h.Verdict == journal.Running && !seen[h.RunID] {
			if err := b.Interrupted(ctx, lifecycle.Outcome{RunID: h.RunID, Scenario: h.Scenario}); err != nil {
				return err
			}
		}
	}
	return nil
}

// storeBacklog is the daemon's store read backward (lifecycle.Backlog).
type storeBacklog struct {
	d  *Daemon
	by string // for the journal's reasons: "the daemon on restart", "the daemon's retry"
}

var _ lifecycle.Backlog = storeBacklog{}

func (b storeBacklog) Pending(context.Context) ([]lifecycle.Pending, error) {
	entries, err := b.d.store.Pending()
	if err != nil {
		return nil, err
	}
	out := make([]lifecycle.Pending, 0, len(entries))
	for _, e := range entries {
		out = append(out, lifecycle.Pending{RunID: e.RunID, Failed: e.State == store.StateRevertFailed, Fault: e.Fault})
	}
	return out, nil
}

func (b storeBacklog) Resolve(ctx context.Context, p lifecycle.Pending, f journal.Fault) error {
	if err := b.d.store.Resolve(ctx, store.Entry{RunID: p.RunID, Fault: f}); err != nil {
		return err
	}
	if f.RevertedAt != nil {
		b.d.locks.unquarantine(p.RunID, f.Target)
	}
	return nil
}

func (b storeBacklog) Keep(ctx context.Context, p lifecycle.Pending, f journal.Fault) error {
	b.d.locks.quarantine(p.RunID, f.Target)
	return b.d.store.Ledger().Reverted(ctx, p.RunID, f)
}

// Interrupted records in the run's journal what was reverted, and marks a
// run that was still running interrupted.
func (b storeBacklog) Interrupted(_ context.Context, o lifecycle.Outcome) error {
	d := b.d
	if strings.HasPrefix(o.RunID, agentRunPrefix) {
		// A node agent's fault has no run journal: the ledger and the log
		// tell its story, and its controller reads it from the agent.
		d.log.Warn().Str("fault", strings.TrimPrefix(o.RunID, agentRunPrefix)).Int("reverted", o.Reverted).Int("unknown", o.Unknown).Int("failed", o.Failed).
			Str("by", b.by).Msg("agent fault reconciled")
		return d.store.Compact(o.RunID)
	}
	now := time.Now()
	j, err := d.store.Run(o.RunID)
	if errors.Is(err, store.ErrNotFound) {
		j = &journal.Journal{Format: journal.FormatVersion, RunID: o.RunID, Scenario: o.Scenario, Verdict: journal.Running, StartedAt: now}
	} else if err != nil {
		return err
	}
	for _, f := range o.Faults {
		if i := slices.IndexFunc(j.Faults, func(g journal.Fault) bool { return g.ID == f.ID }); i >= 0 {
			j.Faults[i] = f
		} else {
			j.Faults = append(j.Faults, f)
		}
	}
	msg := o.Message(b.by)
	if j.Verdict == journal.Running {
		j.Verdict = journal.Interrupted
		j.EndedAt = now
		if p, perr := d.store.SampleLogPath(o.RunID); perr == nil {
			// What the run measured before it died is in its sample log.
			if err := j.AdoptSampleLog(p); err != nil {
				msg += fmt.Sprintf("; its sample log is unreadable: %v", err)
			}
		}
		j.Reasons = append(j.Reasons, "the daemon stopped mid-run (crash, kill -9 or power loss); "+msg)
		d.metrics.Runs.WithLabelValues(j.Scenario, string(journal.Interrupted)).Inc()
	} else {
		j.Reasons = append(j.Reasons, msg)
	}
	if err := d.store.PutRun(j); err != nil {
		return err
	}
	d.log.Warn().Str("run_id", o.RunID).Str("scenario", j.Scenario).Str("verdict", string(j.Verdict)).
		Int("reverted", o.Reverted).Int("unknown", o.Unknown).Int("failed", o.Failed).Msg("run reconciled")
	return nil
}

// countFaults counts, from the ledger, the active faults (injected and not
// reverted) or the unreverted ones (failed reverts, unknown states).
func (d *Daemon) countFaults(active bool) float64 {
	var es []store.Entry
	var err error
	if active {
		es, err = d.store.Pending()
	} else {
		es, err = d.store.Unreverted()
	}
	if err != nil {
		d.log.Error().Err(err).Msg("read the fault ledger")
		return 0
	}
	n := 0
	for _, e := range es {
		if !active || e.State != store.StateIntent {
			n++
		}
	}
	return float64(n)
}

// Retry backoff of failed reverts while the daemon runs.
const (
	retryFirst = 10 * time.Second
	retryMax   = 5 * time.Minute
)

// retryLoop retries, with backoff, every revert that failed, until it
// succeeds or an operator forgets the fault (chaosctl faults forget). The
// faults of runs still going are theirs to revert.
func (d *Daemon) retryLoop(ctx context.Context, every time.Duration) {
	wait := every
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.retryNow:
			wait = every
		case <-time.After(wait):
		}
		failed := d.retryFailed(ctx)
		switch {
		case failed == 0:
			wait = every
		default:
			wait = min(2*wait, retryMax)
			d.log.Error().Int("unreverted", failed).Dur("next_retry", wait).Msg("faults could not be reverted; retrying with backoff")
		}
	}
}

// retryFailed runs the backward half once over failed reverts and returns
// how many are still failing.
func (d *Daemon) retryFailed(ctx context.Context) int {
	outs, err := lifecycle.Recover(ctx, storeBacklog{d: d, by: "the daemon's retry"}, lifecycle.Recovery{
		Catalog: d.catalog, Timeout: d.cfg.Defaults.RevertTimeout.Duration, Log: d.log, By: "the daemon's retry",
		Skip: func(runID string) bool { return d.isRunning(runID) || (d.agent != nil && d.agent.busy(runID)) }, OnlyChanged: true,
	})
	if err != nil {
		d.log.Error().Err(err).Msg("fault ledger")
	}
	failed := 0
	for _, o := range outs {
		failed += o.Failed
	}
	return failed
}

// isRunning reports whether runID is a run of this daemon still going.
func (d *Daemon) isRunning(runID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.runs[runID]
	return ok
}
