package experiments

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/lifecycle"
	"github.com/chaosctl/chaosctl/plugins"
)

// faultWindow is when faults were in effect.
type faultWindow struct {
	start        time.Time // the first injection was attempted
	lastInjected time.Time
	end          time.Time // the last fault was reverted (or injected, for instantaneous ones)
	injected     int
}

type stopError struct {
	probe string
	ratio float64
	limit float64
	win   time.Duration
	n     int
}

func (e *stopError) Error() string {
	return fmt.Sprintf("stop condition: probe %s failed %.1f%% of %d samples over %s (limit %g%%)",
		e.probe, e.ratio, e.n, e.win, e.limit)
}
func (e *stopError) Unwrap() error { return ErrStopCondition }

// runFaults injects every planned fault (in parallel or in series, at their
// offsets), waits out their durations and reverts them. A stop condition,
// an injection error or ctx ending cancels the rest; whatever was injected
// is reverted in every case.
func (r *run) runFaults(ctx context.Context, plan []plannedFault) (faultWindow, error) {
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var (
		fw      faultWindow
		fwMu    sync.Mutex
		wg      sync.WaitGroup
		started = make(chan struct{})
		once    sync.Once
	)
	markStart := func() {
		once.Do(func() {
			fwMu.Lock()
			fw.start = time.Now()
			fwMu.Unlock()
			close(started)
		})
	}
	r.phase(journal.PhaseInject, nil)

	// Faults of one scenario entry hit their targets together.
	runEntry := func(p plannedFault, base int) error {
		var ewg sync.WaitGroup
		errs := make([]error, len(p.targets))
		for n, t := range p.targets {
			ewg.Add(1)
			go func() {
				defer ewg.Done()
				errs[n] = r.runOne(fctx, p, base+n, t, markStart, func(injected bool, at time.Time) {
					fwMu.Lock()
					defer fwMu.Unlock()
					if injected {
						fw.injected++
						if at.After(fw.lastInjected) {
							fw.lastInjected = at
						}
					}
					if at.After(fw.end) {
						fw.end = at
					}
				})
			}()
		}
		ewg.Wait()
		return errors.Join(errs...)
	}

	// Index of each entry's first journal fault.
	bases := make([]int, len(plan))
	idx := 0
	for i, p := range plan {
		bases[i] = idx
		idx += len(p.targets)
	}

	// One loop for both modes: in parallel every entry waits its offset
	// from the start of injection; in series each one waits for the entry
	// before it to end, then its offset.
	errc := make(chan error, len(plan))
	var prev chan struct{}
	for i, p := range plan {
		after := prev
		ended := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ended)
			if after != nil {
				select {
				case <-after:
				case <-fctx.Done():
					return
				}
			}
			if err := r.sleep(fctx, p.spec.After.Duration); err != nil {
				return
			}
			if err := runEntry(p, bases[i]); err != nil {
				errc <- err
				cancel(err)
			}
		}()
		if r.sc.Safety.Injection == "serial" {
			prev = ended
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// Watch stop conditions while faults are active.
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	observing := false
	for {
		select {
		case <-done:
			close(errc)
			var errs []error
			for err := range errc {
				errs = append(errs, err)
			}
			fwMu.Lock()
			out := fw
			fwMu.Unlock()
			if out.start.IsZero() {
				out.start = time.Now()
			}
			if out.end.IsZero() {
				out.end = time.Now()
			}
			if cause := context.Cause(fctx); errors.Is(cause, ErrStopCondition) {
				return out, cause
			}
			return out, errors.Join(errs...)
		case <-tick.C:
			select {
			case <-started:
			default:
				continue
			}
			fwMu.Lock()
			start, injected := fw.start, fw.injected
			fwMu.Unlock()
			if !observing && injected == len(r.j.Faults) {
				observing = true
				r.phase(journal.PhaseObserve, nil)
			}
			if err := r.checkStop(start, time.Now()); err != nil {
				r.log.Warn().Err(err).Msg("stop condition tripped")
				cancel(err)
			}
		}
	}
}

// sleep waits d or until ctx ends.
func (r *run) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// runOne takes one fault on one target through the forward half of the
// lifecycle (lifecycle.Forward): prepare, intent, inject, confirm, hold
// while checking it is still there, revert, resolved. The engine keeps the
// journal and the events; Forward keeps the ledger and the bounds.
func (r *run) runOne(ctx context.Context, p plannedFault, i int, t plugins.Target, markStart func(), mark func(injected bool, at time.Time)) error {
	log := r.log.With().Str("fault", p.spec.Name).Str("target", t.String()).Logger()
	if ctx.Err() != nil {
		return nil
	}
	req := plugins.InjectRequest{
		Action: p.spec.Action, Params: p.spec.Params, Target: t, Duration: p.spec.Duration.Duration,
	}
	// A plugin that can name its revert data up front has it recorded with
	// the intent, so a crash in the middle of Inject can still be undone.
	if pr, ok := p.fault.(plugins.Preparer); ok && p.action.Reversible {
		prepared, err := pr.Prepare(ctx, req)
		if err != nil {
			r.updateFault(i, func(f *journal.Fault) { f.InjectError = "prepare: " + err.Error() })
			r.emitFault(i)
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("prepare %s on %s: %w", p.spec.Name, t, err)
		}
		req.Prepared = prepared
	}
	r.updateFault(i, func(f *journal.Fault) { f.IntentAt = time.Now(); f.RevertData = req.Prepared })
	if err := r.fw.Intent(ctx, r.fault(i)); err != nil {
		r.updateFault(i, func(f *journal.Fault) { f.InjectError = "ledger: " + err.Error() })
		return err
	}
	r.emitFault(i)
	markStart()
	revertData, outcome, err := r.fw.Inject(ctx, p.fault, req)
	now := time.Now()
	if err != nil {
		log.Error().Err(err).Msg("inject failed")
		r.updateFault(i, func(f *journal.Fault) {
			f.InjectError = err.Error()
			f.RevertData = revertData
			switch {
			case outcome == lifecycle.Unknown:
				f.RevertError = lifecycle.NoteStateUnknown
				f.Notes = append(f.Notes, lifecycle.NoteStateUnknown)
			case lifecycle.BrokenCall(err):
				f.Notes = append(f.Notes, "the Inject call broke without an answer; what it did is undone with the revert data prepared before it")
			}
		})
		r.emitFault(i)
		mark(false, now)
		switch outcome {
		case lifecycle.Unknown:
			// Never "reverted": the ledger keeps it, loudly.
			f := r.fault(i)
			log.Error().Str("fault", f.ID).Msg(lifecycle.NoteStateUnknown)
			r.addReason(fmt.Sprintf("fault %s on %s: %s", f.Name, f.Target, lifecycle.NoteStateUnknown))
			r.resolve(ctx, i)
		case lifecycle.Partial:
			// Partly injected: undo what was done.
			r.revert(ctx, p, i)
		default:
			r.resolve(ctx, i)
		}
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("inject %s on %s: %w", p.spec.Name, t, err)
	}
	r.updateFault(i, func(f *journal.Fault) { f.InjectedAt = &now; f.RevertData = revertData })
	log.Info().Msg("injected")
	if err := r.fw.Injected(ctx, r.fault(i)); err != nil {
		r.addReason(err.Error())
	}
	r.emitFault(i)
	mark(true, now)

	if !p.action.Reversible {
		r.confirm(ctx, p, i)
		r.updateFault(i, func(f *journal.Fault) {
			f.Notes = append(f.Notes, "instantaneous: nothing to revert")
		})
		r.resolve(ctx, i)
		return nil
	}
	if er := r.hold(ctx, p, i, req, mark); er != nil {
		r.revertedEarly(ctx, i, *er)
		mark(false, er.At)
		return nil
	}
	r.revert(ctx, p, i)
	mark(false, time.Now())
	return nil
}

// resolve records fault i's end in the ledger: resolved, or kept pending
// when it carries a revert error.
func (r *run) resolve(ctx context.Context, i int) {
	if err := r.fw.Resolve(ctx, r.fault(i)); err != nil {
		r.addReason(err.Error())
	}
}

// hold waits out the fault's duration, or until ctx ends, checking that the
// fault is still in effect. It returns early when a plugin behind a process
// boundary says the fault was reverted already because its plugin process
// died (plugins.CrashWatcher).
func (r *run) hold(ctx context.Context, p plannedFault, i int, req plugins.InjectRequest, mark func(bool, time.Time)) *plugins.EarlyRevert {
	var early <-chan plugins.EarlyRevert
	if w, ok := p.fault.(plugins.CrashWatcher); ok {
		early = w.Watch(p.spec.Action, r.fault(i).RevertData)
	}
	hctx, stop := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		r.watchHeld(hctx, p, i, req, mark)
	}()
	defer func() {
		stop()
		<-watched // bounded: every Status call is (StatusTimeout)
	}()
	t := time.NewTimer(p.spec.Duration.Duration)
	defer t.Stop()
	select {
	case er := <-early:
		return &er
	case <-ctx.Done():
	case <-t.C:
	}
	return nil
}

// revertedEarly records a fault that its plugin host reverted after the
// plugin process died: the run did not go as planned, so it is an error.
func (r *run) revertedEarly(ctx context.Context, i int, er plugins.EarlyRevert) {
	r.updateFault(i, func(f *journal.Fault) {
		at := er.At
		f.RevertedAt = &at
		f.Notes = append(f.Notes, er.Note)
	})
	f := r.fault(i)
	r.log.Error().Str("fault", f.ID).Str("target", f.Target.String()).Msg(er.Note)
	r.addReason(fmt.Sprintf("fault %s on %s: %s", f.Name, f.Target, er.Note))
	r.resolve(ctx, i)
	r.emitFault(i)
}

// revert undoes fault i whatever state ctx is in, checks through Status
// that it is undone, and records the outcome.
func (r *run) revert(ctx context.Context, p plannedFault, i int) {
	f := r.fault(i)
	at, err := r.fw.Revert(ctx, p.fault, f, func(ctx context.Context) error { return r.verifyRevert(ctx, p, i) })
	r.updateFault(i, func(f *journal.Fault) {
		f.RevertedAt = &at
		if err != nil {
			f.RevertError = err.Error()
		}
	})
	if err != nil {
		r.log.Error().Err(err).Str("fault", f.ID).Msg("revert failed")
		r.addReason(fmt.Sprintf("revert %s on %s failed: %v", f.Name, f.Target, err))
	} else {
		r.log.Info().Str("fault", f.ID).Str("target", f.Target.String()).Msg("reverted")
	}
	r.resolve(ctx, i)
	r.emitFault(i)
}

func (r *run) fault(i int) journal.Fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.j.Faults[i]
}

func (r *run) updateFault(i int, fn func(*journal.Fault)) {
	r.mu.Lock()
	fn(&r.j.Faults[i])
	r.mu.Unlock()
}

func (r *run) emitFault(i int) {
	f := r.fault(i)
	r.emit(Event{Kind: EventFault, Fault: &f})
}

// checkStop evaluates every stop condition over its window (or, while the
// faults are younger than it, over their life so far).
func (r *run) checkStop(start, now time.Time) error {
	for _, sc := range r.sc.Safety.Stop {
		w := sc.Window.Duration
		from := now.Add(-w)
		if from.Before(start) {
			// Faults shorter than the window are judged on what there is,
			// once there is enough of it to mean something.
			from = start
		}
		ratio, n := r.rec.errorRatio(sc.Probe, from, now)
		if n >= minStopSamples && ratio > sc.MaxErrorRatio {
			return &stopError{probe: sc.Probe, ratio: ratio, limit: sc.MaxErrorRatio, win: now.Sub(from).Round(time.Millisecond), n: n}
		}
	}
	return nil
}

// minStopSamples is how many samples a stop condition needs before it may
// trip: one failed sample right after injection is not a 100% error ratio.
const minStopSamples = 5

// reportSLOs emits each SLO's state over its latest window twice a second
// until ctx ends, for live progress.
func (r *run) reportSLOs(ctx context.Context) {
	if r.opts.Observer == nil {
		return
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.emitSLOs()
		}
	}
}

// emitSLOs reports each SLO over its latest window.
func (r *run) emitSLOs() {
	now := time.Now()
	states := make([]SLOState, 0, len(r.objs))
	for _, o := range r.objs {
		f := r.rec.figure(o, now.Add(-o.Window), now)
		states = append(states, SLOState{Name: o.Name, Held: f.Held, Availability: f.Availability, P99: f.P99, Samples: f.Samples})
	}
	r.emit(Event{Kind: EventSLO, SLOs: states})
}
