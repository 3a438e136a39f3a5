package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/daemon/store"
	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/notify"
	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/runbooks"
	"github.com/chaosctl/chaosctl/scenarios"
)

// Sentinel errors of the daemon's own; those it answers API requests with
// are the api package's (api.ErrHalted and the like), named on the wire.
var (
	// ErrUnsafeScenarioDir: a scenario directory or file others may write.
	ErrUnsafeScenarioDir = errors.New("scenario directory or file writable by others")

	errAbortedByOperator = errors.New("aborted through the API")
)

// Options are what the daemon is given besides its config.
type Options struct {
	Log     zerolog.Logger
	Catalog plugins.Catalog
	// UI builds the dashboard served under /ui/ when [ui] enabled is set.
	UI UIFactory
}

// Daemon is one running chaosctl daemon.
type Daemon struct {
	cfg       Config // as the daemon started; never written after New
	log       zerolog.Logger
	store     *store.Store
	catalog   plugins.Catalog
	uiFactory UIFactory
	metrics   *Metrics
	locks     *targetLocks
	cron      *cron.Cron

	runCtx    context.Context // parent of every run; cancelled on shutdown
	cancelAll context.CancelCauseFunc
	runsWG    sync.WaitGroup
	reloadMu  sync.Mutex
	watcher   *fsnotify.Watcher // guarded by reloadMu; nil until Serve watches
	runID     func() string     // makes run ids; experiments.NewRunID

	mu        sync.Mutex
	cur       Config // in effect: cfg with the reloadable keys as the last reload set them
	scenarios map[string]*scenarios.Scenario
	loadErrs  []api.LoadError
	entries   map[string]cron.EntryID
	entrySpec map[string]string // the schedule text each entry was made from
	runs      map[string]*activeRun
	retryNow  chan struct{}  // wakes the retry loop of failed reverts
	loops     sync.WaitGroup // background loops (retries) to wait for at Close
	halted    bool
	agent     *agentFaults // [agent] enabled; nil otherwise
}

// New opens the store, reverts whatever faults a previous daemon left
// behind, and loads the scenarios. It does not listen or schedule yet:
// Serve does.
func New(ctx context.Context, cfg Config, opts Options) (*Daemon, error) {
	plugins.ProtectPaths(filepath.Dir(cfg.Store)) // plugins started from here on refuse to fill it
	st, err := store.Open(cfg.Store, cfg.Defaults.StoreLockTimeout.Duration)
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		cfg: cfg, cur: cfg, log: opts.Log, store: st, catalog: opts.Catalog, uiFactory: opts.UI, metrics: newMetrics(), locks: newTargetLocks(),
		cron: cron.New(cron.WithLocation(time.Local)), runID: experiments.NewRunID,
		runs: map[string]*activeRun{}, entries: map[string]cron.EntryID{}, entrySpec: map[string]string{},
	}
	d.runCtx, d.cancelAll = context.WithCancelCause(context.WithoutCancel(ctx))
	if d.halted, err = st.Halted(); err != nil {
		st.Close()
		return nil, err
	}
	if d.halted {
		d.metrics.Halted.Set(1)
		d.log.Warn().Msg("starting halted: no runs until resumed")
	}
	if err := d.reconcile(ctx); err != nil {
		st.Close()
		return nil, err
	}
	if cfg.Agent.Enabled {
		d.agent = newAgentFaults(d)
		for _, p := range d.agent.plugins {
			if _, err := d.catalog.Lookup(ctx, p); err != nil {
				st.Close()
				return nil, fmt.Errorf("agent.plugins: %s: %w", p, err)
			}
		}
		d.log.Info().Strs("plugins", d.agent.plugins).Msg("node agent: controllers may inject through these plugins")
	}
	d.metrics.ledgerGauges(d.countFaults)
	d.retryNow = make(chan struct{}, 1)
	d.loops.Add(1)
	go func() {
		defer d.loops.Done()
		d.retryLoop(d.runCtx, retryFirst)
	}()
	d.Reload(ctx, "start")
	return d, nil
}

// Metrics exposes the daemon's metrics, for the plugin host to count
// plugin restarts.
func (d *Daemon) Metrics() *Metrics { return d.metrics }

// Reload reads the scenario directories again. Scenarios whose file became
// invalid are dropped and reported; the others are rescheduled. Runs in
// progress keep the scenario they started with.
func (d *Daemon) Reload(ctx context.Context, why string) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	dirs := d.current().ScenarioDirs
	d.syncWatch(dirs)
	loaded, errs := d.loadDirs(ctx, dirs)
	d.mu.Lock()
	d.scenarios, d.loadErrs = loaded, errs
	// Entries whose schedule did not change are kept: re-adding an
	// "@every 6h" entry would restart its countdown on every edit of any
	// file in the directory.
	for name, id := range d.entries {
		if sc, ok := loaded[name]; ok && sc.Schedule == d.entrySpec[name] {
			continue
		}
		d.cron.Remove(id)
		delete(d.entries, name)
		delete(d.entrySpec, name)
	}
	for name, sc := range loaded {
		if _, kept := d.entries[name]; kept || sc.Schedule == "" {
			continue
		}
		sch, err := scenarios.ParseSchedule(sc.Schedule)
		if err != nil { // the loader checked it
			continue
		}
		d.entries[name] = d.cron.Schedule(sch, cron.FuncJob(func() { d.scheduled(name) }))
		d.entrySpec[name] = sc.Schedule
	}
	d.mu.Unlock()
	d.metrics.Scenarios.Set(float64(len(loaded)))
	d.metrics.ScenarioErrors.Set(float64(len(errs)))
	for _, le := range errs {
		d.log.Error().Str("file", le.File).Strs("errors", le.Errors).Msg("scenario file not loaded")
	}
	d.log.Info().Str("why", why).Int("scenarios", len(loaded)).Int("invalid_files", len(errs)).Msg("scenarios loaded")
}

// scheduled is a cron tick of one scenario.
func (d *Daemon) scheduled(name string) {
	d.mu.Lock()
	sc := d.scenarios[name]
	d.mu.Unlock()
	if sc == nil {
		return
	}
	log := d.log.With().Str("scenario", name).Logger()
	if sc.Window != "" {
		if w, err := scenarios.ParseWindow(sc.Window); err == nil && !w.Contains(time.Now()) {
			d.metrics.ScheduledSkipped.WithLabelValues(name, "outside-window").Inc()
			log.Info().Str("window", sc.Window).Msg("scheduled run skipped: outside its window")
			return
		}
	}
	id, err := d.Start(sc, "schedule", false)
	if err != nil {
		reason := "error"
		switch {
		case errors.Is(err, api.ErrHalted):
			reason = "halted"
		case errors.Is(err, api.ErrAlreadyRunning):
			reason = "already-running"
		case errors.Is(err, api.ErrTooManyRuns):
			reason = "max-concurrent-runs"
		case errors.Is(err, api.ErrShuttingDown):
			return
		}
		d.metrics.ScheduledSkipped.WithLabelValues(name, reason).Inc()
		log.Warn().Err(err).Msg("scheduled run skipped")
		return
	}
	log.Info().Str("run_id", id).Msg("scheduled run started")
}

// Scenarios lists the loaded scenarios, by name, and the files that failed.
func (d *Daemon) Scenarios() ([]api.ScenarioInfo, []api.LoadError) {
	next := map[cron.EntryID]time.Time{}
	for _, e := range d.cron.Entries() { // one snapshot: Entry(id) copies them all each call
		next[e.ID] = e.Next
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]api.ScenarioInfo, 0, len(d.scenarios))
	for name, sc := range d.scenarios {
		si := api.ScenarioInfo{Name: name, File: sc.Path, Description: sc.Description, Schedule: sc.Schedule,
			Window: sc.Window, Concurrency: sc.Concurrency, Running: []string{}}
		if id, ok := d.entries[name]; ok {
			if n := next[id]; !n.IsZero() {
				si.NextRun = &n
			}
		}
		for id, r := range d.runs {
			if r.scenario == name {
				si.Running = append(si.Running, id)
			}
		}
		sort.Strings(si.Running)
		out = append(out, si)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, slices.Clone(d.loadErrs)
}

// Scenario returns a loaded scenario by name.
func (d *Daemon) Scenario(name string) (*scenarios.Scenario, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sc, ok := d.scenarios[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", api.ErrUnknownScenario, name)
	}
	return sc, nil
}

// Start begins a run of sc and returns its id once the run is recorded in
// the store. trigger says who asked: schedule, api or file.
func (d *Daemon) Start(sc *scenarios.Scenario, trigger string, dryRun bool) (string, error) {
	d.mu.Lock()
	if d.runCtx.Err() != nil {
		d.mu.Unlock()
		return "", api.ErrShuttingDown
	}
	if d.halted {
		d.mu.Unlock()
		return "", api.ErrHalted
	}
	var same []*activeRun
	for _, r := range d.runs {
		if r.scenario == sc.Name {
			same = append(same, r)
		}
	}
	var replaced []*activeRun
	if len(same) > 0 {
		switch sc.Concurrency {
		case scenarios.ConcurrencyAllow:
		case scenarios.ConcurrencyReplace:
			replaced = same
		default:
			d.mu.Unlock()
			return "", fmt.Errorf("%w (run %s)", api.ErrAlreadyRunning, same[0].id)
		}
	}
	if len(d.runs)-len(replaced) >= d.cur.Defaults.MaxConcurrentRuns {
		d.mu.Unlock()
		return "", fmt.Errorf("%w (%d runs in progress)", api.ErrTooManyRuns, len(d.runs))
	}
	id, err := d.newRunID()
	if err != nil {
		d.mu.Unlock()
		return "", err
	}
	run, capped := capTargets(sc, d.cur.Policy)
	historyLimit := d.cur.Defaults.HistoryLimit
	ctx, cancel := context.WithCancelCause(d.runCtx)
	r := newActiveRun(id, sc, trigger, cancel)
	for _, old := range replaced {
		old.cancel(fmt.Errorf("replaced by run %s (concurrency = replace)", id))
	}
	d.runs[id] = r
	d.runsWG.Add(1)
	d.metrics.ActiveRuns.Inc()
	d.mu.Unlock()

	// The run is in the store before anything can be injected, so that a
	// crash at any later point finds it.
	if err := d.store.PutRun(r.snapshot()); err != nil {
		d.mu.Lock()
		delete(d.runs, id)
		d.mu.Unlock()
		d.metrics.ActiveRuns.Dec()
		cancel(err)
		// A run that replaced this one may already wait for it to end.
		j := r.snapshot()
		j.Verdict, j.Reasons = journal.Error, []string{"could not record the run: " + err.Error()}
		r.finish(j)
		d.runsWG.Done()
		return "", err
	}
	go d.execute(ctx, r, run, execOpts{dryRun: dryRun, replaced: replaced, capped: capped, historyLimit: historyLimit})
	return id, nil
}

// newRunID is a run id that no run has, in progress or stored: a new run
// never overwrites another's journal. d.mu is held.
func (d *Daemon) newRunID() (string, error) {
	const tries = 5
	for range tries {
		id := d.runID()
		if _, live := d.runs[id]; live {
			continue
		}
		_, err := d.store.Run(id)
		if errors.Is(err, store.ErrNotFound) {
			return id, nil
		}
		if err != nil {
			return "", fmt.Errorf("check run id %s is unused: %w", id, err)
		}
		d.log.Warn().Str("run_id", id).Msg("run id already taken; making another")
	}
	return "", fmt.Errorf("%w after %d tries", api.ErrRunIDCollision, tries)
}

// execOpts are the parts of a run Start decided.
type execOpts struct {
	dryRun       bool
	replaced     []*activeRun // runs this one replaces: it waits for their end
	capped       string       // why policy.max_targets lowered the scenario's, "" when it did not
	historyLimit int
}

func (d *Daemon) execute(ctx context.Context, r *activeRun, sc *scenarios.Scenario, o execOpts) {
	defer d.runsWG.Done()
	log := d.log.With().Str("run_id", r.id).Str("scenario", sc.Name).Str("trigger", r.trigger).Logger()
	for _, old := range o.replaced {
		<-old.done // its faults are reverted and its targets released
	}
	log.Info().Msg("run started")
	if o.capped != "" {
		log.Info().Msg(o.capped)
	}
	rb := &runbooks.Runner{Log: d.log.With().Str("run_id", r.id).Str("scenario", sc.Name).Logger()}
	nr := notify.Start(d.cfg.Notify, r.id, sc.Name, notify.Options{Log: d.log})
	defer nr.Close() // after the run is stored and finished: a slow receiver delays nobody
	j := experiments.Run(ctx, sc, experiments.Options{
		Runbook: rb.Restore, RunbookBefore: rb.Before,
		Log: d.log, Catalog: d.catalog, Ledger: d.store.Ledger(),
		Observer: func(ev experiments.Event) { r.observe(ev, d.metrics, sc.Name); nr.Observe(ev) },
		DryRun:   o.dryRun, RunID: r.id, RevertTimeout: d.cfg.Defaults.RevertTimeout.Duration,
		LockTargets: d.locks.forRun(r.id), SampleLog: d.sampleLog(r.id, log),
	})
	j.Labels = map[string]string{"trigger": r.trigger}
	if o.capped != "" {
		j.Reasons = append(j.Reasons, o.capped)
	}
	for _, f := range j.Faults {
		if f.RevertError != "" {
			// The fault may still be in effect: nobody injects there again
			// until a revert succeeds (the next start retries it).
			d.locks.quarantine(r.id, f.Target)
			log.Error().Str("target", f.Target.String()).Msg("target quarantined: its fault could not be reverted")
		}
	}
	if cause := context.Cause(ctx); cause != nil && j.Verdict == journal.Aborted {
		j.Reasons = append(j.Reasons, "aborted because: "+cause.Error())
	}
	if err := d.store.PutRun(j); err != nil {
		log.Error().Err(err).Msg("journal not stored")
	}
	if n, err := d.store.Prune(o.historyLimit); err != nil {
		log.Error().Err(err).Msg("history not pruned")
	} else if n > 0 {
		log.Info().Int("pruned", n).Msg("history limit: oldest runs deleted")
	}
	d.metrics.Runs.WithLabelValues(sc.Name, string(j.Verdict)).Inc()
	d.metrics.RunDuration.WithLabelValues(sc.Name).Observe(j.EndedAt.Sub(j.StartedAt).Seconds())
	if rc := j.Recovery; rc != nil && rc.Duration != nil {
		d.metrics.TimeToRecover.WithLabelValues(sc.Name).Observe(rc.Duration.Seconds())
	}
	d.mu.Lock()
	delete(d.runs, r.id)
	d.mu.Unlock()
	d.metrics.ActiveRuns.Dec()
	r.finish(j)
	log.Info().Str("verdict", string(j.Verdict)).Msg("run finished")
}

// Run returns a run's journal: live for a run in progress, from the store
// otherwise.
func (d *Daemon) Run(id string) (*journal.Journal, error) {
	d.mu.Lock()
	r, ok := d.runs[id]
	d.mu.Unlock()
	if ok {
		return r.snapshot(), nil
	}
	j, err := d.store.Run(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w %q", api.ErrUnknownRun, id)
	}
	return j, err
}

// History lists finished and running runs, newest first.
func (d *Daemon) History(limit int, scenario string) ([]store.RunSummary, error) {
	return d.store.History(limit, scenario)
}

// Abort ends a run in progress; its faults are reverted.
func (d *Daemon) Abort(id string) error {
	d.mu.Lock()
	r, ok := d.runs[id]
	d.mu.Unlock()
	if ok {
		r.cancel(errAbortedByOperator)
		return nil
	}
	if _, err := d.store.Run(id); err == nil {
		return fmt.Errorf("%w: %s", api.ErrRunFinished, id)
	}
	return fmt.Errorf("%w %q", api.ErrUnknownRun, id)
}

// Halt is the kill switch: it aborts every run and refuses new ones until
// Resume. The switch is stored, so it survives a restart.
func (d *Daemon) Halt() ([]string, error) {
	d.mu.Lock()
	d.halted = true
	var ids []string
	for id, r := range d.runs {
		r.cancel(api.ErrHalted)
		ids = append(ids, id)
	}
	d.mu.Unlock()
	if d.agent != nil {
		d.agent.revertAll(context.Background(), "reverted by the agent: halted by an operator", false)
	}
	sort.Strings(ids)
	d.metrics.Halted.Set(1)
	d.log.Warn().Strs("aborted", ids).Msg("halted")
	return ids, d.store.SetHalted(true)
}

// Resume lifts the kill switch.
func (d *Daemon) Resume() error {
	d.mu.Lock()
	d.halted = false
	d.mu.Unlock()
	if d.agent != nil {
		d.agent.resume()
	}
	d.metrics.Halted.Set(0)
	d.log.Warn().Msg("resumed")
	return d.store.SetHalted(false)
}

// Status reports whether the daemon is halted and what runs.
func (d *Daemon) Status() api.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := api.Status{Halted: d.halted, Scenarios: len(d.scenarios), InvalidFiles: len(d.loadErrs), Active: []api.RunStatus{}, Store: d.store.Path()}
	for _, r := range d.runs {
		j := r.snapshot()
		var phase journal.PhaseName
		if n := len(j.Phases); n > 0 {
			phase = j.Phases[n-1].Name
		}
		st.Active = append(st.Active, api.RunStatus{RunID: r.id, Scenario: r.scenario, Trigger: r.trigger, Phase: phase, StartedAt: j.StartedAt})
	}
	sort.Slice(st.Active, func(i, j int) bool { return st.Active[i].RunID < st.Active[j].RunID })
	return st
}

// shutdown aborts every run, waits until all are reverted and stored, and
// closes the store.
func (d *Daemon) shutdown() error {
	d.stopRuns()
	return d.store.Close()
}

// stopRuns stops the schedule, aborts every run (their faults reverted)
// and waits for them. Cancelling under d.mu makes Start's check and its
// runsWG.Add atomic with it: no run starts after the wait began.
func (d *Daemon) stopRuns() {
	<-d.cron.Stop().Done()
	d.mu.Lock()
	d.cancelAll(api.ErrShuttingDown)
	d.mu.Unlock()
	d.runsWG.Wait()
	if d.agent != nil {
		d.agent.revertAll(context.Background(), "reverted by the agent: it was shutting down", true)
	}
	d.loops.Wait()
}
