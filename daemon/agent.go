package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/daemon/store"
	"github.com/chaosctl/chaosctl/internal/agent"
	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/lifecycle"
	"github.com/chaosctl/chaosctl/plugins"
)

// The node agent ([agent] enabled): a controller on another machine asks
// this daemon to inject one fault, through one of its own plugins, into
// one target on this node (a pod's container), and renews a lease on it
// while it holds it (the internal/agent contract). Every agent fault goes
// into this daemon's own ledger first, under its own id as the run, so
// the daemon's start-up reconcile reverts the faults of an agent that
// died, and its retry loop retries a revert that failed. A fault whose
// lease runs out is reverted here, on the agent's own: a dead controller
// never leaves one in place.

// AgentConfig is the [agent] table.
type AgentConfig struct {
	Enabled bool `toml:"enabled"`
	// Plugins a controller may use through the agent.
	Plugins []string `toml:"plugins"`
}

// defaultAgentPlugins are the plugins that act on a container of this node.
var defaultAgentPlugins = []string{"docker", "latency", "stress", "network"}

// Sentinels of the agent's API.
var (
	errAgentDisabled = errors.New("this daemon is not a node agent ([agent] enabled = false)")
	errAgentIDInUse  = errors.New("the agent has a fault with this id already")
	// errInjectFailed reads "inject": the plugin's Inject failed.
	errInjectFailed = errors.New("inject")
)

// agentFaults are the faults the agent holds.
type agentFaults struct {
	d       *Daemon
	log     zerolog.Logger
	plugins []string

	mu        sync.Mutex
	held      map[string]*heldFault
	claimed   map[string]bool // ids being injected
	stopped   bool            // shutting down: nothing more is injected or held
	halted    bool            // halted by an operator: nothing more is held
	injecting sync.WaitGroup  // injects in flight (claimed)
	reverts   sync.WaitGroup  // reverts of leases that ran out
}

type heldFault struct {
	f     journal.Fault
	flt   plugins.Fault
	by    string
	lease time.Duration
	until time.Time
	timer *time.Timer
	done  chan struct{} // closed once taken out of held
}

func newAgentFaults(d *Daemon) *agentFaults {
	ps := d.cfg.Agent.Plugins
	if len(ps) == 0 {
		ps = defaultAgentPlugins
	}
	return &agentFaults{d: d, log: d.log.With().Str("part", "agent").Logger(), plugins: ps,
		held: map[string]*heldFault{}, claimed: map[string]bool{}}
}

// agentRunPrefix starts the ledger's run ID of every agent fault, so the
// daemon's backward half knows them: a fault held here is not a dead
// run's, and a fault reverted on restart has no run journal to complete.
const agentRunPrefix = "agent-"

func agentRun(id string) string { return agentRunPrefix + id }

// entry is the ledger entry of agent fault id.
func (a *agentFaults) entry(id string) (store.Entry, error) { return a.d.store.Entry(agentRun(id), id) }

func (a *agentFaults) forward(id string) lifecycle.Forward {
	return lifecycle.Forward{Ledger: a.d.store.Ledger(), RunID: agentRun(id), InjectTimeout: 2 * time.Minute, RevertTimeout: a.d.cfg.Defaults.RevertTimeout.Duration}
}

// inject takes one fault through the forward half of the lifecycle and
// holds it under its lease.
func (a *agentFaults) inject(ctx context.Context, req agent.InjectRequest) (agent.Fault, error) {
	if err := req.Check(); err != nil {
		return agent.Fault{}, err
	}
	if !slices.Contains(a.plugins, req.Plugin) {
		return agent.Fault{}, &plugins.ValidationError{Field: "plugin",
			Msg: fmt.Sprintf("%q is not a plugin this agent runs for controllers (agent.plugins: %s)", req.Plugin, strings.Join(a.plugins, ", "))}
	}
	if err := a.selectorAllowed(ctx, req.Selector); err != nil {
		return agent.Fault{}, err
	}
	if err := a.claim(req.ID); err != nil {
		return agent.Fault{}, err
	}
	defer a.unclaim(req.ID)

	flt, err := a.d.catalog.Lookup(ctx, req.Plugin)
	if err != nil {
		return agent.Fault{}, fmt.Errorf("plugin %s: %w", req.Plugin, err)
	}
	desc, err := flt.Describe(ctx)
	if err != nil {
		return agent.Fault{}, fmt.Errorf("plugin %s: %w", req.Plugin, err)
	}
	act, ok := desc.Action(req.Action)
	if !ok {
		return agent.Fault{}, &plugins.ValidationError{Field: "action", Msg: fmt.Sprintf("plugin %s has no action %q", req.Plugin, req.Action)}
	}
	if err := flt.Validate(ctx, req.Action, req.Params, req.Selector); err != nil {
		return agent.Fault{}, err
	}
	ts, err := flt.Targets(ctx, req.Action, req.Params, req.Selector)
	if err != nil {
		return agent.Fault{}, fmt.Errorf("selector on node agent: %w", err)
	}
	if len(ts) != 1 {
		return agent.Fault{}, &plugins.ValidationError{Field: "selector", Msg: fmt.Sprintf("names %d targets on this node; an agent fault takes exactly one", len(ts))}
	}
	ireq := plugins.InjectRequest{Action: req.Action, Params: req.Params, Target: ts[0], Duration: req.Duration}
	if pr, ok := flt.(plugins.Preparer); ok && act.Reversible {
		if ireq.Prepared, err = pr.Prepare(ctx, ireq); err != nil {
			return agent.Fault{}, fmt.Errorf("prepare: %w", err)
		}
	}
	f := journal.Fault{
		ID: req.ID, Name: "agent " + req.Plugin + "/" + req.Action, Plugin: req.Plugin, Action: req.Action,
		Target: ts[0], Params: req.Params, IntentAt: time.Now(), RevertData: ireq.Prepared,
		Notes: []string{"asked by " + req.By},
	}
	log := a.log.With().Str("fault", f.ID).Str("plugin", f.Plugin).Str("action", f.Action).Str("target", f.Target.String()).Str("by", req.By).Logger()
	fw := a.forward(req.ID)
	if err := fw.Intent(ctx, f); err != nil {
		return agent.Fault{}, err
	}
	rd, outcome, err := fw.Inject(ctx, flt, ireq)
	at := time.Now()
	if err != nil {
		log.Error().Err(err).Msg("agent fault: inject failed")
		f.InjectError, f.RevertData = err.Error(), rd
		switch outcome {
		case lifecycle.Unknown:
			f.RevertError = lifecycle.NoteStateUnknown
			f.Notes = append(f.Notes, lifecycle.NoteStateUnknown)
		case lifecycle.Partial:
			f = a.revertFault(ctx, flt, f, "reverted by the agent: its inject failed part way")
		}
		rerr := fw.Resolve(ctx, f)
		err = fmt.Errorf("%s/%s on %s: %w", req.Plugin, req.Action, f.Target, errors.Join(err, rerr))
		if rerr == nil && stateOf(f) == store.StateReverted {
			// Nothing is left: a refusal (4xx), so the controller records
			// that nothing was done. Anything else is a 5xx: the
			// controller then reverts from its prepared data, and the
			// agent's ledger keeps what it could not undo.
			err = fmt.Errorf("%w %w", errInjectFailed, err)
		}
		return agentFault(f, string(stateOf(f)), req.By), err
	}
	f.InjectedAt, f.RevertData = &at, rd
	if err := fw.Injected(ctx, f); err != nil {
		// Not recorded: undo it at once rather than hold what a restart
		// could not revert.
		f = a.revertFault(ctx, flt, f, "reverted by the agent: its ledger could not record the injection")
		_ = fw.Resolve(ctx, f)
		return agentFault(f, string(stateOf(f)), req.By), err
	}
	if !act.Reversible {
		f.Notes = append(f.Notes, "instantaneous: nothing to revert")
		if err := fw.Resolve(ctx, f); err != nil {
			return agent.Fault{}, err
		}
		log.Info().Msg("agent fault: done (instantaneous)")
		return agentFault(f, agent.StateReverted, req.By), nil
	}
	h := &heldFault{f: f, flt: flt, by: req.By, lease: req.Lease, until: at.Add(req.Lease), done: make(chan struct{})}
	a.mu.Lock()
	if a.stopped || a.halted {
		why, cause := "it is shutting down", api.ErrShuttingDown
		if !a.stopped {
			why, cause = "it was halted", api.ErrHalted
		}
		a.mu.Unlock()
		f = a.revertFault(ctx, flt, f, "reverted by the agent: "+why)
		_ = fw.Resolve(ctx, f)
		return agentFault(f, string(stateOf(f)), req.By), cause
	}
	a.held[f.ID] = h
	h.timer = time.AfterFunc(req.Lease, func() { a.expire(f.ID) })
	a.mu.Unlock()
	if w, ok := flt.(plugins.CrashWatcher); ok {
		early := w.Watch(f.Action, f.RevertData)
		go func() {
			select {
			case er := <-early:
				a.revertedEarly(f.ID, er)
			case <-h.done:
			}
		}()
	}
	log.Info().Dur("lease", req.Lease).Msg("agent fault: injected and held")
	return a.view(h), nil
}

// claim reserves id for an inject. An id the ledger has is refused,
// unless its fault was reverted: then its controller injects it again
// (reapply = true, after it vanished).
func (a *agentFaults) claim(id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.stopped:
		return api.ErrShuttingDown
	case a.halted:
		return api.ErrHalted
	case a.held[id] != nil || a.claimed[id]:
		return fmt.Errorf("%w: %s", errAgentIDInUse, id)
	}
	if e, err := a.entry(id); err == nil && e.State != store.StateReverted {
		return fmt.Errorf("%w: %s (%s)", errAgentIDInUse, id, e.State)
	}
	a.claimed[id] = true
	a.injecting.Add(1)
	return nil
}

func (a *agentFaults) unclaim(id string) {
	a.mu.Lock()
	delete(a.claimed, id)
	a.mu.Unlock()
	a.injecting.Done()
}

// busy reports whether the ledger's run runID is a fault this agent
// holds or is injecting: the daemon's retry loop leaves it alone.
func (a *agentFaults) busy(runID string) bool {
	id, ok := strings.CutPrefix(runID, agentRunPrefix)
	if !ok {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.held[id] != nil || a.claimed[id]
}

// take removes a held fault, so that only its taker reverts it.
func (a *agentFaults) take(id string) *heldFault {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.takeLocked(id)
}

func (a *agentFaults) takeLocked(id string) *heldFault {
	h := a.held[id]
	if h == nil {
		return nil
	}
	delete(a.held, id)
	h.timer.Stop()
	close(h.done)
	return h
}

// revertFault reverts f through flt and checks the revert took: the
// plugin's Status must no longer see the fault. f comes back with its
// outcome (RevertedAt, or RevertError: then the ledger keeps it pending
// and the retry loop tries again).
func (a *agentFaults) revertFault(ctx context.Context, flt plugins.Fault, f journal.Fault, note string) journal.Fault {
	verify := func(ctx context.Context) error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		st, err := flt.Status(sctx, f.Action, f.RevertData)
		if err == nil && st.Active && !st.Lasting {
			return fmt.Errorf("still in effect after its revert: %s", st.Detail)
		}
		return nil
	}
	at, err := a.forward(f.ID).Revert(ctx, flt, f, verify)
	if err != nil {
		f.RevertError = err.Error()
		f.Notes = append(f.Notes, fmt.Sprintf("%s: revert by the agent failed: %v", time.Now().Format(time.RFC3339), err))
		a.log.Error().Err(err).Str("fault", f.ID).Str("target", f.Target.String()).Msg("agent fault: revert failed; the retry loop tries again")
		return f
	}
	f.RevertedAt, f.RevertError = &at, ""
	f.Notes = append(f.Notes, note)
	a.log.Info().Str("fault", f.ID).Str("target", f.Target.String()).Str("note", note).Msg("agent fault: reverted")
	return f
}

// revertHeld reverts a fault taken out of held and records the outcome.
func (a *agentFaults) revertHeld(ctx context.Context, h *heldFault, note string) (agent.Fault, error) {
	f := a.revertFault(ctx, h.flt, h.f, note)
	if err := a.forward(f.ID).Resolve(ctx, f); err != nil {
		return agentFault(f, string(stateOf(f)), h.by), err
	}
	if f.RevertError != "" {
		return agentFault(f, agent.StateRevertFailed, h.by), errors.New(f.RevertError)
	}
	a.forgetLater(f.ID)
	return agentFault(f, agent.StateReverted, h.by), nil
}

// keepReverted is how long a reverted fault stays in the ledger, for its
// controller's revert and fact check to read; then it is dropped, so a
// long-lived agent's ledger does not grow with every fault it ever held.
const keepReverted = 10 * time.Minute

func (a *agentFaults) forgetLater(id string) {
	time.AfterFunc(keepReverted, func() {
		if err := a.d.store.Compact(agentRun(id)); err != nil && !errors.Is(err, bolt.ErrDatabaseNotOpen) {
			a.log.Warn().Err(err).Str("fault", id).Msg("agent fault: drop from the ledger")
		}
	})
}

// revert is the controller's revert: of a held fault, or again of one
// whose revert failed; a fault already reverted is answered as it is.
func (a *agentFaults) revert(ctx context.Context, id string) (agent.Fault, error) {
	if h := a.take(id); h != nil {
		return a.revertHeld(ctx, h, "reverted by the agent, asked by its controller ("+h.by+")")
	}
	a.mu.Lock()
	injecting := a.claimed[id]
	a.mu.Unlock()
	if injecting {
		// Not "unknown": the inject may yet hold it.
		return agent.Fault{}, fmt.Errorf("%w: %s is being injected; revert it once the inject has answered", errAgentIDInUse, id)
	}
	e, err := a.entry(id)
	if err != nil {
		return agent.Fault{}, a.unknown(id, err)
	}
	switch {
	case e.State != store.StateRevertFailed:
		return agentFault(e.Fault, string(e.State), ""), nil
	}
	// A revert that failed, tried again now: to its end and checked,
	// whatever becomes of the controller's request.
	ctx = context.WithoutCancel(ctx)
	flt, err := a.d.catalog.Lookup(ctx, e.Fault.Plugin)
	if err != nil {
		return agentFault(e.Fault, string(e.State), ""), fmt.Errorf("plugin %s: %w", e.Fault.Plugin, err)
	}
	f := a.revertFault(ctx, flt, e.Fault, "reverted by the agent, asked again by its controller")
	if err := a.forward(id).Resolve(ctx, f); err != nil {
		return agentFault(f, string(stateOf(f)), ""), err
	}
	if f.RevertError != "" {
		return agentFault(f, agent.StateRevertFailed, ""), errors.New(f.RevertError)
	}
	a.forgetLater(id)
	return agentFault(f, agent.StateReverted, ""), nil
}

func (a *agentFaults) unknown(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", agent.ErrUnknownFault, id)
	}
	return err
}

// expire reverts a fault whose lease ran out without a renewal.
func (a *agentFaults) expire(id string) {
	a.mu.Lock()
	h := a.held[id]
	if h == nil || time.Now().Before(h.until) { // gone, or renewed meanwhile
		a.mu.Unlock()
		return
	}
	a.takeLocked(id)
	a.reverts.Add(1)
	a.mu.Unlock()
	defer a.reverts.Done()
	a.log.Warn().Str("fault", id).Str("by", h.by).Dur("lease", h.lease).Msg("agent fault: lease ran out without a renewal; reverting")
	_, _ = a.revertHeld(context.Background(), h, fmt.Sprintf("reverted by the agent on its own: its controller (%s) did not renew the lease within %s", h.by, h.lease))
}

// revertedEarly records a fault its plugin host reverted after the plugin
// process died.
func (a *agentFaults) revertedEarly(id string, er plugins.EarlyRevert) {
	h := a.take(id)
	if h == nil {
		return
	}
	f := h.f
	at := er.At
	f.RevertedAt = &at
	f.Notes = append(f.Notes, er.Note)
	if err := a.forward(id).Resolve(context.Background(), f); err != nil {
		a.log.Error().Err(err).Str("fault", id).Msg("agent fault: record an early revert")
		return
	}
	a.forgetLater(id)
}

// renew extends a held fault's lease; a fault no longer held is answered
// as it is (its state says why).
func (a *agentFaults) renew(id string) (agent.Fault, error) {
	a.mu.Lock()
	h := a.held[id]
	if h != nil {
		h.until = time.Now().Add(h.lease)
		h.timer.Reset(h.lease)
		v := a.view(h)
		a.mu.Unlock()
		return v, nil
	}
	a.mu.Unlock()
	return a.get(context.Background(), id)
}

// get is a fault, with its plugin's Status now when it is held.
func (a *agentFaults) get(ctx context.Context, id string) (agent.Fault, error) {
	a.mu.Lock()
	h := a.held[id]
	var v agent.Fault
	if h != nil {
		v = a.view(h)
	}
	a.mu.Unlock()
	if h == nil {
		e, err := a.entry(id)
		if err != nil {
			return agent.Fault{}, a.unknown(id, err)
		}
		return agentFault(e.Fault, string(e.State), ""), nil
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := h.flt.Status(sctx, h.f.Action, h.f.RevertData)
	if err != nil {
		v.StatusError = err.Error() // unverified: never a guess
		return v, nil
	}
	v.Status = &st
	return v, nil
}

// list is every held fault, oldest first.
func (a *agentFaults) list() []agent.Fault {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]agent.Fault, 0, len(a.held))
	for _, h := range a.held {
		out = append(out, a.view(h))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].InjectedAt.Before(*out[j].InjectedAt) })
	return out
}

// revertAll reverts every held fault: on shutdown (stop), and when
// halted. From then on nothing more is held: an inject in flight reverts
// its fault itself when it ends, and a shutdown waits for it.
func (a *agentFaults) revertAll(ctx context.Context, note string, stop bool) {
	a.mu.Lock()
	if stop {
		a.stopped = true
	} else {
		a.halted = true
	}
	ids := make([]string, 0, len(a.held))
	for id := range a.held {
		ids = append(ids, id)
	}
	a.mu.Unlock()
	for _, id := range ids {
		if h := a.take(id); h != nil {
			_, _ = a.revertHeld(ctx, h, note)
		}
	}
	if stop {
		a.injecting.Wait()
	}
	a.reverts.Wait()
}

// resume lifts a halt.
func (a *agentFaults) resume() {
	a.mu.Lock()
	a.halted = false
	a.mu.Unlock()
}

// selectorAllowed: a controller names one container (or process) on this
// node, by one key, never the node itself or a protected pod: kube-system,
// the agent's own namespace, or labelled chaosctl.skip=true. The
// controller refuses those too; the agent does not take its word for it.
func (a *agentFaults) selectorAllowed(ctx context.Context, sel plugins.Params) error {
	bad := func(msg string) error { return &plugins.ValidationError{Field: "selector", Msg: msg} }
	if len(sel) != 1 {
		return bad(fmt.Sprintf("names %d keys; an agent fault names one container by %s", len(sel), strings.Join(agentSelectorKeys, ", ")))
	}
	for k, v := range sel {
		if !slices.Contains(agentSelectorKeys, k) {
			return bad(fmt.Sprintf("key %q: an agent fault names one container by %s", k, strings.Join(agentSelectorKeys, ", ")))
		}
		id, ok := v.(string)
		if k == "pid" || !ok {
			return nil // a process: the plugin checks it exists
		}
		e, err := dockerengine.Connect(ctx)
		if err != nil {
			return fmt.Errorf("selector: %w", err)
		}
		defer e.Close()
		c, err := e.Inspect(ctx, id)
		if err != nil {
			return bad(fmt.Sprintf("container %s on this node: %v", id, err))
		}
		ns := c.Labels["io.kubernetes.pod.namespace"]
		switch {
		case ns == "kube-system" || (ns != "" && ns == os.Getenv("POD_NAMESPACE")):
			return bad(fmt.Sprintf("container %s is in a pod of namespace %s, which is never a target", c.Name, ns))
		case c.Labels[dockerengine.LabelSkip] == "true" || c.Labels[dockerengine.LabelManaged] == "true":
			return bad(fmt.Sprintf("container %s is labelled never to be a target", c.Name))
		}
	}
	return nil
}

// agentSelectorKeys are the keys that name one target: a container (by
// name or id, for docker, latency and network; container, for stress), or
// a process.
var agentSelectorKeys = []string{"name", "container", "pid"}

// view is a held fault on the wire; a.mu is held.
func (a *agentFaults) view(h *heldFault) agent.Fault {
	v := agentFault(h.f, agent.StateHeld, h.by)
	until := h.until
	v.LeaseUntil = &until
	return v
}

func agentFault(f journal.Fault, state, by string) agent.Fault {
	return agent.Fault{ID: f.ID, Plugin: f.Plugin, Action: f.Action, Target: f.Target, State: state, By: by,
		InjectedAt: f.InjectedAt, RevertedAt: f.RevertedAt, RevertError: f.RevertError, Notes: f.Notes}
}

// stateOf is the ledger state a resolved fault ends in.
func stateOf(f journal.Fault) store.State {
	switch {
	case f.RevertError == lifecycle.NoteStateUnknown:
		return store.StateUnknown
	case f.RevertError != "":
		return store.StateRevertFailed
	}
	return store.StateReverted
}
