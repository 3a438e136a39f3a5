package experiments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins"
)

// The fact check: the engine never takes a fault's effect on trust. It asks
// the plugin's Status, which reads the target's real state, right after
// Inject (confirm), about once a second while the fault is held (hold), and
// after Revert (revert). What Status says is kept in the journal.

// Defaults of the fact check (Options override them).
const (
	DefaultStatusTimeout = 5 * time.Second        // one Status call
	DefaultConfirmWithin = 5 * time.Second        // how long an effect may take to show after Inject
	DefaultStatusEvery   = time.Second            // polling while a fault is held
	confirmPoll          = 100 * time.Millisecond // polling while confirming
)

// errStatusTimeout: Status did not answer within StatusTimeout.
var errStatusTimeout = errors.New("no answer")

// status asks fault i's plugin for its status, bounded by StatusTimeout even
// when the plugin hangs and ignores its context: a hung Status never blocks
// the run or the revert.
func (r *run) status(ctx context.Context, p plannedFault, i int) (plugins.Status, error) {
	return r.statusWithin(ctx, p, i, r.opts.StatusTimeout)
}

func (r *run) statusWithin(ctx context.Context, p plannedFault, i int, timeout time.Duration) (plugins.Status, error) {
	f := r.fault(i)
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type answer struct {
		st  plugins.Status
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		st, err := p.fault.Status(sctx, f.Action, f.RevertData)
		ch <- answer{st, err}
	}()
	select {
	case a := <-ch:
		return a.st, a.err
	case <-sctx.Done():
		if ctx.Err() != nil {
			return plugins.Status{}, ctx.Err()
		}
		return plugins.Status{}, fmt.Errorf("Status: %w within %s", errStatusTimeout, timeout.Round(time.Millisecond))
	}
}

// check records one Status answer in fault i's journal, folding it into the
// previous check when it says the same.
func (r *run) check(i int, stage string, st plugins.Status, err error) {
	now := time.Now()
	c := journal.Check{Time: now, Stage: stage, Active: st.Active, Detail: st.Detail}
	if err != nil {
		c = journal.Check{Time: now, Stage: stage, Error: err.Error()}
	}
	r.updateFault(i, func(f *journal.Fault) {
		if n := len(f.Checks); n > 0 {
			p := &f.Checks[n-1]
			if p.Stage == c.Stage && p.Active == c.Active && p.Detail == c.Detail && p.Error == c.Error {
				p.Repeat++
				p.Until = &now
				return
			}
		}
		f.Checks = append(f.Checks, c)
	})
}

// unverified is why an effect could not be verified, for the journal.
func unverified(err error) string {
	switch {
	case errors.Is(err, plugins.ErrUnimplemented):
		return "effect not verified: the plugin does not implement Status"
	case errors.Is(err, errStatusTimeout):
		return "effect not verified: " + err.Error()
	}
	return "effect not verified: Status failed: " + err.Error()
}

// confirm polls Status after Inject until the fault is seen in effect, for
// at most ConfirmWithin (and never past a reversible fault's duration),
// and records the effect: confirmed, not in effect, or not verified. For a
// reversible fault it runs beside the hold, so that a slow Status never
// stretches the fault; ctx ends with the hold.
func (r *run) confirm(ctx context.Context, p plannedFault, i int) {
	within := r.opts.ConfirmWithin
	if d := p.spec.Duration.Duration; p.action.Reversible && d > 0 && d < within {
		within = d
	}
	deadline := time.Now().Add(within)
	var (
		st  plugins.Status
		err error
	)
	for {
		st, err = r.statusWithin(ctx, p, i, max(min(r.opts.StatusTimeout, time.Until(deadline)), confirmPoll))
		if ctx.Err() != nil {
			// The hold (or the run) ended first: nothing was confirmed.
			r.setEffect(i, journal.EffectUnverified, "effect not verified: Status gave no answer before the fault ended")
			return
		}
		r.check(i, journal.CheckConfirm, st, err)
		if (err == nil && st.Active) || errors.Is(err, plugins.ErrUnimplemented) || errors.Is(err, errStatusTimeout) ||
			!time.Now().Add(confirmPoll).Before(deadline) {
			break
		}
		if r.sleep(ctx, confirmPoll) != nil {
			r.setEffect(i, journal.EffectUnverified, "effect not verified: the fault ended before Status confirmed it")
			return
		}
	}
	f := r.fault(i)
	log := r.log.With().Str("fault", f.ID).Str("target", f.Target.String()).Logger()
	switch {
	case err != nil:
		msg := unverified(err)
		r.setEffect(i, journal.EffectUnverified, msg)
		log.Warn().Err(err).Msg("effect not verified")
		r.addNote(fmt.Sprintf("fault %s on %s: %s", f.Name, f.Target, msg))
	case st.Active:
		r.setEffect(i, journal.EffectConfirmed, st.Detail)
		log.Info().Str("detail", st.Detail).Msg("effect confirmed")
	default:
		msg := fmt.Sprintf("did not take effect: %s", orNothing(st.Detail))
		r.setEffect(i, journal.EffectNotInEffect, msg)
		log.Error().Str("detail", st.Detail).Msg("fault did not take effect")
		r.addInconclusive(fmt.Sprintf("fault %s on %s %s (checked for %s)", f.Name, f.Target, msg, within))
	}
}

func orNothing(s string) string {
	if s == "" {
		return "the plugin says it is not in effect"
	}
	return s
}

func (r *run) setEffect(i int, effect, detail string) {
	r.updateFault(i, func(f *journal.Fault) { f.Effect, f.EffectDetail = effect, detail })
	r.emitFault(i)
}

// verifyRevert asks Status after a Revert that returned no error. A fault
// still in effect means the revert failed, whatever Revert said: the error
// is returned for the journal and the ledger, which keeps the fault. An
// effect the plugin calls Lasting is meant to outlive the revert: it is
// noted, not a failure.
func (r *run) verifyRevert(ctx context.Context, p plannedFault, i int) error {
	st, err := r.status(context.WithoutCancel(ctx), p, i)
	r.check(i, journal.CheckRevert, st, err)
	switch {
	case err != nil:
		f := r.fault(i)
		r.updateFault(i, func(f *journal.Fault) {
			f.Notes = append(f.Notes, "revert not verified: "+unverified(err))
		})
		r.log.Warn().Err(err).Str("fault", f.ID).Msg("revert not verified")
		return nil
	case st.Active && st.Lasting:
		r.updateFault(i, func(f *journal.Fault) {
			f.Notes = append(f.Notes, "left in place by design: "+orNothing(st.Detail))
		})
		r.log.Info().Str("fault", r.fault(i).ID).Str("detail", st.Detail).Msg("left in place by design")
		return nil
	case st.Active:
		return fmt.Errorf("Revert returned, but Status says the fault is still in effect: %s", orNothing(st.Detail))
	}
	return nil
}

// watchHeld confirms fault i's effect, then polls Status while it is held, about once a second, until
// ctx ends. A fault found gone has vanished: its instant is recorded and,
// with reapply, it is injected again. Status calls run off the holder's
// goroutine, so a hung plugin never delays the revert.
func (r *run) watchHeld(ctx context.Context, p plannedFault, i int, req plugins.InjectRequest, mark func(bool, time.Time)) {
	r.confirm(ctx, p, i)
	if f := r.fault(i); f.Effect != journal.EffectConfirmed {
		return // nothing confirmed to watch: not in effect, or Status cannot tell
	}
	t := time.NewTicker(r.opts.StatusEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := r.status(ctx, p, i)
		if ctx.Err() != nil {
			return // the hold is over: the revert's check takes it from here
		}
		r.check(i, journal.CheckHold, st, err)
		if err != nil || st.Active {
			continue
		}
		now := time.Now()
		f := r.fault(i)
		r.updateFault(i, func(f *journal.Fault) {
			f.VanishedAt = &now
			f.Notes = append(f.Notes, fmt.Sprintf("vanished at %s, %s after injection: %s",
				now.Format(time.RFC3339Nano), since(f.InjectedAt, now), orNothing(st.Detail)))
		})
		r.log.Warn().Str("fault", f.ID).Str("target", f.Target.String()).Str("detail", st.Detail).Msg("fault vanished while held")
		r.emitFault(i)
		if !p.spec.Reapply {
			r.addInconclusive(fmt.Sprintf("fault %s on %s vanished %s after injection, before its %s were over (%s): the run did not test what it planned; reapply = true re-injects it",
				f.Name, f.Target, since(f.InjectedAt, now), p.spec.Duration, orNothing(st.Detail)))
			return
		}
		if !r.reapply(ctx, p, i, req, mark) {
			return
		}
	}
}

// reapply injects a vanished fault again, under the same bound as the
// first injection, and confirms it.
func (r *run) reapply(ctx context.Context, p plannedFault, i int, req plugins.InjectRequest, mark func(bool, time.Time)) bool {
	f := r.fault(i)
	rd, _, err := r.fw.Inject(ctx, p.fault, req)
	now := time.Now()
	if err != nil {
		r.updateFault(i, func(f *journal.Fault) { f.Notes = append(f.Notes, "reapply failed: "+err.Error()) })
		r.addInconclusive(fmt.Sprintf("fault %s on %s vanished and could not be injected again: %v", f.Name, f.Target, err))
		r.emitFault(i)
		return false
	}
	r.updateFault(i, func(f *journal.Fault) {
		if rd != nil {
			f.RevertData = rd
		}
		f.Reapplied++
		f.ReappliedAt = &now
		f.Notes = append(f.Notes, "reapplied at "+now.Format(time.RFC3339Nano))
	})
	if err := r.fw.Injected(ctx, r.fault(i)); err != nil {
		r.addReason(err.Error())
	}
	mark(false, now) // a fault event: recovery is judged after it
	r.log.Info().Str("fault", f.ID).Msg("reapplied")
	r.emitFault(i)
	st, err := r.status(ctx, p, i)
	r.check(i, journal.CheckConfirm, st, err)
	return err == nil && st.Active
}

func since(t *time.Time, now time.Time) time.Duration {
	if t == nil {
		return 0
	}
	return now.Sub(*t).Round(time.Millisecond)
}
