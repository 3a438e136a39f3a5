// Package experiments runs a scenario the way a game day reads: preflight,
// steady state, inject, observe, revert, verify recovery, verdict. Revert
// always runs: at the end, on abort, on error and on cancellation.
package experiments

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/lifecycle"
	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/scenarios"
	"github.com/chaosctl/chaosctl/slo"
)

// Options configure one run.
type Options struct {
	Log      zerolog.Logger
	Catalog  plugins.Catalog
	Ledger   lifecycle.Ledger // nil: faults are only journalled (lifecycle.NoLedger)
	Observer Observer         // nil: no progress events
	DryRun   bool             // preflight only: resolve targets, inject nothing
	RunID    string           // "": generated
	// RevertTimeout bounds each revert; reverts run even when the run's
	// context is cancelled. Default 30s.
	RevertTimeout time.Duration
	// InjectTimeout bounds each Inject. An Inject runs to its end (or this
	// bound) even when the run is cancelled, so that its revert never runs
	// while the plugin is still injecting. Default 2m.
	InjectTimeout time.Duration
	// The fact check (see factcheck.go): StatusTimeout bounds one Status
	// call, ConfirmWithin how long an effect may take to show after Inject,
	// StatusEvery how often a held fault is checked. Defaults 5s, 5s, 1s.
	StatusTimeout time.Duration
	ConfirmWithin time.Duration
	StatusEvery   time.Duration
	// Runbook runs a scenario's runbook steps (when it has a [runbook]) in
	// the runbook phase: after the faults and before recovery is measured,
	// so the recovery measured is the one the runbook brings about.
	Runbook RunbookFunc
	// RunbookBefore runs the runbook's before steps (a backup, a marker
	// record) once steady state holds, before the first fault. Failures it
	// returns fail the run with nothing injected.
	RunbookBefore RunbookFunc
	// LockTargets, when set, is called once after preflight with every
	// resolved target, before steady state and any injection. An error ends
	// the run (verdict error) with nothing injected; release is called when
	// every fault is reverted. The daemon uses it so that two runs never
	// inject into the same target at once.
	LockTargets func(ctx context.Context, targets []plugins.Target) (release func(), err error)
	// SampleLog, when set, gets every sample as it is recorded, and is
	// closed when the run ends. A run with more samples than a journal
	// keeps whole then has them thinned in its journal, which names the
	// log (Journal.SampleLog). nil: the journal keeps every sample.
	SampleLog SampleSink
}

// RunbookFunc executes a scenario's disaster-recovery runbook and stores
// its outcome in the journal. It returns reasons the run failed, if any.
type RunbookFunc func(ctx context.Context, sc *scenarios.Scenario, j *journal.Journal, samples Samples) (failures []string, err error)

// Samples is how a runbook executor reads the run's samples (slo.Samples).
type Samples = slo.Samples

// SliceSamples serves Samples from samples of any probes in any order.
func SliceSamples(samples []probes.Sample) Samples {
	rec := &recorder{}
	for _, s := range samples {
		rec.add(s)
	}
	return rec.window
}

// ErrStopCondition is the cause of an abort by a stop condition.
var ErrStopCondition = errors.New("stop condition tripped")

// NewRunID returns a sortable, unique run id.
func NewRunID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

type run struct {
	sc      *scenarios.Scenario
	opts    Options
	log     zerolog.Logger
	j       *journal.Journal
	rec     *recorder
	objs    []slo.Objective
	events  chan Event
	evDone  chan struct{}
	mu      sync.Mutex // guards j.Faults, j.Phases and reasons while faults run
	reasons []string   // revert and ledger errors: they make the verdict error
	notes   []string   // what changed the plan without failing it (a skipped fault)
	// inconclusive: why the run proves nothing (a fault that did not take
	// effect, an SLO without samples); the run can then not pass.
	inconclusive []string
	fw           lifecycle.Forward // the forward half of every fault's lifecycle
}

// plannedFault is one fault resolved to its plugin and targets.
type plannedFault struct {
	spec    scenarios.Fault
	fault   plugins.Fault
	action  plugins.Action
	targets []plugins.Target
}

// Run executes sc and returns its journal. The journal is complete whatever
// happens; its verdict says how the run ended.
func Run(ctx context.Context, sc *scenarios.Scenario, opts Options) *journal.Journal {
	if opts.RunID == "" {
		opts.RunID = NewRunID()
	}
	if opts.RevertTimeout <= 0 {
		opts.RevertTimeout = 30 * time.Second
	}
	if opts.InjectTimeout <= 0 {
		opts.InjectTimeout = 2 * time.Minute
	}
	if opts.StatusTimeout <= 0 {
		opts.StatusTimeout = DefaultStatusTimeout
	}
	if opts.ConfirmWithin <= 0 {
		opts.ConfirmWithin = DefaultConfirmWithin
	}
	if opts.StatusEvery <= 0 {
		opts.StatusEvery = DefaultStatusEvery
	}
	if opts.Ledger == nil {
		opts.Ledger = lifecycle.NoLedger{}
	}
	r := &run{
		sc:   sc,
		opts: opts,
		fw:   lifecycle.Forward{Ledger: opts.Ledger, RunID: opts.RunID, InjectTimeout: opts.InjectTimeout, RevertTimeout: opts.RevertTimeout},
		log:  opts.Log.With().Str("run_id", opts.RunID).Str("scenario", sc.Name).Logger(),
		j: &journal.Journal{
			Format:       journal.FormatVersion,
			RunID:        opts.RunID,
			Scenario:     sc.Name,
			ScenarioPath: sc.Path,
			ScenarioHash: sc.Hash,
			Postmortem: journal.Postmortem{
				ID: sc.Postmortem.ID, URL: sc.Postmortem.URL, Date: sc.Postmortem.Date, Summary: sc.Postmortem.Summary,
			},
			DryRun:    opts.DryRun,
			StartedAt: time.Now(),
			Verdict:   journal.Running,
		},
		events: make(chan Event, 4096),
		evDone: make(chan struct{}),
	}
	for _, s := range sc.SLOs {
		r.objs = append(r.objs, slo.New(s))
	}
	r.rec = newRecorder(opts.SampleLog, func(s probes.Sample) { r.emit(Event{Kind: EventSample, Sample: &s}) })
	go r.dispatch()

	verdict, reasons := r.execute(ctx)
	r.finish(verdict, reasons)
	return r.j
}

func (r *run) dispatch() {
	defer close(r.evDone)
	for ev := range r.events {
		if r.opts.Observer != nil {
			r.opts.Observer(ev)
		}
	}
}

// emit queues an event. Samples are dropped rather than stall the run when
// the observer falls behind; every other event is delivered.
func (r *run) emit(ev Event) {
	ev.Time = time.Now()
	ev.RunID = r.opts.RunID
	if ev.Kind == EventSample {
		select {
		case r.events <- ev:
		default:
		}
		return
	}
	r.events <- ev
}

func (r *run) phase(name journal.PhaseName, deadline *time.Time) {
	now := time.Now()
	r.mu.Lock()
	if n := len(r.j.Phases); n > 0 && r.j.Phases[n-1].Ended.IsZero() {
		r.j.Phases[n-1].Ended = now
	}
	r.j.Phases = append(r.j.Phases, journal.Phase{Name: name, Started: now})
	r.mu.Unlock()
	r.log.Info().Str("phase", string(name)).Msg("phase")
	r.emit(Event{Kind: EventPhase, Phase: name, Deadline: deadline})
}

func (r *run) finish(v journal.Verdict, reasons []string) {
	now := time.Now()
	if err := r.rec.closeSink(); err != nil {
		r.log.Error().Err(err).Msg("sample log incomplete")
		r.addNote(fmt.Sprintf("the sample log is incomplete: %v", err))
	}
	js := r.rec.forJournal(r.j.StartedAt, now)
	// Nothing reads the samples after this: let them go before the journal
	// is encoded and stored, which is a long run's peak.
	r.rec.release()
	r.mu.Lock()
	if n := len(r.j.Phases); n > 0 && r.j.Phases[n-1].Ended.IsZero() {
		r.j.Phases[n-1].Ended = now
	}
	r.j.EndedAt = now
	r.j.Samples = js.samples
	r.j.SamplesTotal, r.j.SampleResolution, r.j.SampleLog = js.total, js.resolution, js.log
	r.j.Load = js.load
	if r.j.Samples == nil {
		r.j.Samples = []probes.Sample{}
	}
	if r.j.Faults == nil {
		r.j.Faults = []journal.Fault{}
	}
	r.j.Verdict = v
	r.j.Reasons = append(append(reasons, r.reasons...), r.notes...)
	if r.j.Reasons == nil {
		r.j.Reasons = []string{}
	}
	r.mu.Unlock()
	ev := r.log.Info()
	if v != journal.Passed {
		ev = r.log.Warn()
	}
	ev.Str("verdict", string(v)).Strs("reasons", r.j.Reasons).Msg("verdict")
	r.emit(Event{Kind: EventVerdict, Phase: journal.PhaseVerdict, Verdict: v, Reasons: r.j.Reasons})
	close(r.events)
	<-r.evDone
}

// addInconclusive records why the run cannot pass though nothing failed.
func (r *run) addInconclusive(s string) {
	r.mu.Lock()
	r.inconclusive = append(r.inconclusive, s)
	r.mu.Unlock()
	r.log.Warn().Str("why", s).Msg("inconclusive")
	r.emit(Event{Kind: EventMessage, Message: "inconclusive: " + s})
}

// inconclusiveReasons is a copy of why the run proves nothing.
func (r *run) inconclusiveReasons() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.inconclusive...)
}

// hasReasons reports whether a revert or ledger error was recorded.
func (r *run) hasReasons() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reasons) > 0
}

// addReason records a reason that does not end the run by itself (a revert
// or ledger error): it is never dropped.
func (r *run) addReason(s string) {
	r.mu.Lock()
	r.reasons = append(r.reasons, s)
	r.mu.Unlock()
}

func (r *run) execute(ctx context.Context) (journal.Verdict, []string) {
	r.phase(journal.PhasePreflight, nil)
	plan, probers, err := r.preflight(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return journal.Aborted, []string{"aborted by operator during preflight"}
		}
		return journal.Error, []string{"preflight: " + err.Error()}
	}
	if r.opts.DryRun {
		return journal.Passed, []string{"dry run: preflight passed, nothing injected"}
	}
	if len(plan) == 0 && len(r.sc.Faults) > 0 {
		return journal.Inconclusive, []string{"every fault was skipped (on_empty_selection = \"skip\"): nothing was tested, nothing injected"}
	}
	if r.opts.LockTargets != nil {
		var targets []plugins.Target
		for _, p := range plan {
			targets = append(targets, p.targets...)
		}
		release, err := r.opts.LockTargets(ctx, targets)
		if err != nil {
			return journal.Error, []string{"lock targets: " + err.Error()}
		}
		defer release()
	}

	defer func() {
		for _, p := range probers {
			if c, ok := p.(io.Closer); ok {
				_ = c.Close() // idle connections only: nothing to report
			}
		}
	}()
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampling sync.WaitGroup
	for i, p := range r.sc.Probes {
		sampling.Add(1)
		go func() {
			defer sampling.Done()
			sample(sampleCtx, p.Name, probers[i], p.Interval.Duration, p.Timeout.Duration, r.rec)
		}()
	}
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		r.reportSLOs(sampleCtx)
	}()
	defer func() {
		stopSampling()
		sampling.Wait()
	}()

	// Steady state: nothing is injected unless every SLO holds.
	steadyStart := time.Now()
	steadyEnd := steadyStart.Add(r.sc.Steady.Duration.Duration)
	r.phase(journal.PhaseSteady, &steadyEnd)
	if err := r.sleep(ctx, time.Until(steadyEnd)); err != nil {
		return journal.Aborted, []string{"aborted by operator during steady state"}
	}
	if reasons, blind := r.steady(steadyStart, time.Now()); len(reasons) > 0 {
		return journal.NotSteady, reasons
	} else if len(blind) > 0 {
		return journal.Inconclusive, blind
	}
	judgedSteady := time.Now()

	if r.sc.Runbook != nil && r.opts.RunbookBefore != nil {
		r.phase(journal.PhaseRunbookBefore, nil)
		f, err := r.opts.RunbookBefore(ctx, r.sc, r.j, r.rec.window)
		switch {
		case ctx.Err() != nil:
			return journal.Aborted, []string{"aborted by operator during the runbook's before steps; nothing was injected"}
		case err != nil:
			return journal.Error, []string{"runbook before steps: " + err.Error()}
		case len(f) > 0:
			r.figures(steadyStart, faultWindow{}, time.Now())
			return journal.Failed, append(f, "nothing was injected: the runbook's before steps failed")
		}
	}

	// Faults.
	fw, err := r.runFaults(ctx, plan)
	var verdict journal.Verdict
	var reasons []string
	switch {
	case errors.Is(err, ErrStopCondition):
		verdict, reasons = journal.Aborted, []string{err.Error()}
	case ctx.Err() != nil:
		verdict, reasons = journal.Aborted, []string{"aborted by operator"}
	case err != nil:
		verdict, reasons = journal.Error, []string{err.Error()}
	}
	if verdict != "" {
		r.figures(steadyStart, fw, time.Now())
		if verdict == journal.Aborted {
			// An abort whose revert failed leaves a fault in place: that is
			// the runner's failure to report (exit 5), not a clean abort.
			if r.hasReasons() {
				return journal.Error, append(reasons, "a fault could not be reverted after the abort")
			}
			reasons = append(reasons, "every injected fault was reverted")
		}
		return verdict, reasons
	}

	// The runbook restores service; recovery then measures what it did.
	var failures []string
	if r.sc.Runbook != nil && r.opts.Runbook != nil {
		r.phase(journal.PhaseRunbook, nil)
		f, err := r.opts.Runbook(ctx, r.sc, r.j, r.rec.window)
		if err != nil {
			r.figures(steadyStart, fw, time.Now())
			if ctx.Err() != nil {
				return journal.Aborted, []string{"aborted by operator during the runbook"}
			}
			return journal.Error, []string{"runbook: " + err.Error()}
		}
		failures = append(failures, f...)
	}

	// Recovery.
	rv := r.recovery(ctx, fw)
	if ctx.Err() != nil {
		r.figures(steadyStart, fw, time.Now())
		return journal.Aborted, []string{"aborted by operator while measuring recovery"}
	}
	failures = append(failures, r.figures(steadyStart, fw, time.Now())...)
	failures = append(failures, rv...)
	r.checkUnmeasured(judgedSteady, time.Now())
	short := r.checkRates(probers)
	if r.hasReasons() {
		return journal.Error, failures
	}
	if len(failures) > 0 {
		// A load generator short of its rate may be why the run failed:
		// say so beside the failures.
		return journal.Failed, append(failures, short...)
	}
	if why := r.inconclusiveReasons(); len(why) > 0 {
		return journal.Inconclusive, why
	}
	return journal.Passed, []string{r.passedReason()}
}

// checkUnmeasured makes the run inconclusive when a probe could not
// measure (its Prometheus was unreachable) after steady state: its SLOs
// were judged without those samples, and what was not seen cannot let a
// run pass. A run that failed on what was measured stays failed; one
// whose only "breach" was Prometheus going away is not failed for it.
func (r *run) checkUnmeasured(from, to time.Time) {
	for _, p := range r.sc.Probes {
		if n, why := r.rec.unmeasuredIn(p.Name, from, to.Add(r.slack())); n > 0 {
			r.addInconclusive(fmt.Sprintf("probe %s could not measure %d time(s) after steady state (%s): its SLOs were judged without those samples, so the run cannot pass on them", p.Name, n, why))
		}
	}
}

// checkRates makes the run inconclusive when a probe that aims at a rate
// (a load probe) sent less than 95% of it: the run did not test the load
// it claims. It returns what it found.
func (r *run) checkRates(probers []probes.Prober) []string {
	var short []string
	for i, p := range r.sc.Probes {
		rr, ok := probers[i].(probes.RateReporter)
		if !ok {
			continue
		}
		if got, want := rr.Achieved(); got < 0.95*want {
			why := fmt.Sprintf("probe %s: rate not achieved: %s of %s req/s", p.Name, rateText(got), rateText(want))
			r.addInconclusive(why)
			short = append(short, why)
		}
	}
	return short
}

// rateText is a rate in requests per second, to the request above 10.
func rateText(v float64) string {
	if v >= 10 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func (r *run) passedReason() string {
	if rc := r.j.Recovery; rc != nil && rc.Duration != nil {
		return fmt.Sprintf("every SLO held in steady state and recovered in %s (objective %s)",
			rc.Duration.Round(time.Millisecond), rc.Objective)
	}
	return "every objective met"
}

// preflight resolves every fault's plugin and targets and builds the probes.
func (r *run) preflight(ctx context.Context) ([]plannedFault, []probes.Prober, error) {
	probers := make([]probes.Prober, len(r.sc.Probes))
	for i, p := range r.sc.Probes {
		pr, err := p.Spec.Build(p.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("probe %s: %w", p.Name, err)
		}
		probers[i] = pr
		// A probe that can check what its samples depend on (a query its
		// server must accept) does it now: no sample could ever be ok.
		if pf, ok := pr.(probes.Preflighter); ok {
			if err := pf.Preflight(ctx); err != nil {
				if c, ok := pr.(io.Closer); ok {
					_ = c.Close() // idle connections only
				}
				return nil, nil, fmt.Errorf("probe %s: %w", p.Name, err)
			}
		}
	}
	var plan []plannedFault
	total := 0
	for i, f := range r.sc.Faults {
		if r.opts.Catalog == nil {
			return nil, nil, fmt.Errorf("fault %s: %w: no plugin catalog", f.Name, plugins.ErrUnknownPlugin)
		}
		flt, err := r.opts.Catalog.Lookup(ctx, f.Plugin)
		if err != nil {
			return nil, nil, fmt.Errorf("fault %s: %w", f.Name, err)
		}
		desc, err := flt.Describe(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("fault %s: describe plugin %s: %w", f.Name, f.Plugin, err)
		}
		act, ok := desc.Action(f.Action)
		if !ok {
			return nil, nil, fmt.Errorf("fault %s: %w %q in plugin %s", f.Name, plugins.ErrUnknownAction, f.Action, f.Plugin)
		}
		targets, err := flt.Targets(ctx, f.Action, f.Params, f.Target)
		if err != nil && !errors.Is(err, plugins.ErrNoTargets) {
			return nil, nil, fmt.Errorf("fault %s: resolve targets: %w", f.Name, err)
		}
		if len(targets) == 0 {
			if err == nil {
				err = plugins.ErrNoTargets
			}
			// The plugin's own words say what was looked for.
			if r.sc.Safety.OnEmptySelection == "skip" {
				r.addNote(fmt.Sprintf("fault %s: %v; skipped", f.Name, err))
				continue
			}
			return nil, nil, fmt.Errorf("fault %s: %w", f.Name, err)
		}
		total += len(targets)
		plan = append(plan, plannedFault{spec: f, fault: flt, action: act, targets: targets})
		for n, t := range targets {
			r.j.Faults = append(r.j.Faults, journal.Fault{
				ID: fmt.Sprintf("%s/%d", f.Name, n), Name: f.Name, Plugin: f.Plugin, Action: f.Action,
				Target: t, Params: f.Params,
			})
			r.log.Info().Str("fault", f.Name).Str("target", t.String()).Int("fault_index", i).Msg("target resolved")
		}
	}
	if max := r.sc.Safety.MaxTargets; total > max {
		return nil, nil, fmt.Errorf("safety: faults would hit %d targets, more than max_targets = %d", total, max)
	}
	return plan, probers, nil
}

// addNote records an informational line in the journal's reasons without
// failing the run.
func (r *run) addNote(s string) {
	r.mu.Lock()
	r.notes = append(r.notes, s)
	r.mu.Unlock()
	r.log.Info().Msg(s)
	r.emit(Event{Kind: EventMessage, Message: s})
}

// steady checks every SLO over the steady-state window. An SLO with no
// sample there is no evidence either way: blind says so.
func (r *run) steady(from, to time.Time) (reasons, blind []string) {
	for _, o := range r.objs {
		f := r.rec.figure(o, from, to)
		switch {
		case f.Samples == 0:
			if n, why := r.rec.unmeasuredIn(o.Probe, from, to); n > 0 {
				reasons = append(reasons, fmt.Sprintf("steady state could not be established: SLO %s (%s) had no measured sample, its probe %s could not measure (%d time(s): %s); nothing was injected",
					o.Name, o, o.Probe, n, why))
				continue
			}
			blind = append(blind, fmt.Sprintf("SLO %s (%s) had no samples in steady state: nothing can be judged, nothing was injected", o.Name, o))
		case !f.Held:
			reasons = append(reasons, fmt.Sprintf("steady state did not hold: SLO %s (%s) measured availability %.2f%%, p99 %s over %d samples; nothing was injected",
				o.Name, o, f.Availability, f.P99, f.Samples))
		}
	}
	return reasons, blind
}
