package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/chaosctl/chaosctl/internal/agent"
	"github.com/chaosctl/chaosctl/internal/kube"
	"github.com/chaosctl/chaosctl/plugins"
)

// In-pod faults through the node agent. An in-pod action names the
// agent's plugin and action that carry it out on the pod's node, and maps
// its own parameters to that plugin's. Prepare resolves the pod's
// container to its Docker id, finds the agent on its node and chooses the
// agent's fault ID, all recorded before Inject asks the agent, so that a
// revert reaches the fault even when chaosctl died before the agent
// answered. While the fault is held, this plugin process renews its lease
// every third of it; when chaosctl dies (and its plugin processes with
// it), the renewals stop and the agent reverts the fault when the lease
// runs out.

// agentData is the revert data of an in-pod fault the node agent holds.
type agentData struct {
	Addr        string `json:"addr"`         // the agent's URL
	Pod         string `json:"pod"`          // the agent's pod, namespace/name
	ID          string `json:"id"`           // the fault's ID at the agent, chosen here
	Node        string `json:"node"`         // the pod's node, where the agent runs
	Plugin      string `json:"plugin"`       // the agent's plugin and action
	Action      string `json:"action"`       //
	Container   string `json:"container"`    // the pod's container
	ContainerID string `json:"container_id"` // its Docker id, without docker://
}

func (ad *agentData) who() string { return fmt.Sprintf("node agent %s on node %s", ad.Pod, ad.Node) }

// inPod says how the node agent carries out an in-pod action.
type inPod struct {
	plugin, action string
	// selectorKey is the agent plugin's selector key that takes a Docker
	// container id: "name" (the docker selector), "container" (stress).
	selectorKey string
	// params are the action's parameters the agent's plugin takes, and
	// their names there; the action's schema lists them.
	params []nodeParam
	// fixed are sent as they are (latency's mode = "netem").
	fixed plugins.Params
	// local: without an agent on the node, the action's own prepare and
	// inject run here, on this machine's Docker Engine (chaosctl on the
	// pod's node). Otherwise no agent is an error.
	local bool
	// apiStatus: Status stays the action's own (from the API), better
	// evidence than the agent's.
	apiStatus bool
	// prepared adds the action's own revert data once the container is known.
	prepared func(rd *revertData, cs corev1.ContainerStatus, params plugins.Params)
}

// nodeParam is one parameter of an in-pod action and the agent plugin's
// name for it.
type nodeParam struct {
	plugins.Param
	to string
}

// nodeParams maps the action's parameters to the agent plugin's.
func (n *inPod) nodeParams(params plugins.Params) plugins.Params {
	out := plugins.Params{}
	for _, p := range n.params {
		if v, ok := params[p.Name]; ok {
			out[p.to] = v
		}
	}
	for k, v := range n.fixed {
		out[k] = v
	}
	return out
}

// schema is the action's parameters: the container, the forwarded ones,
// then extra.
func (n *inPod) schema(extra ...plugins.Param) []plugins.Param {
	out := []plugins.Param{containerParam}
	for _, p := range n.params {
		out = append(out, p.Param)
	}
	return append(out, extra...)
}

var containerParam = plugins.Param{Name: "container", Type: plugins.TypeString, Doc: "the container's name (default: the pod's first container)"}

// agentOnly is an in-pod action only the node agent carries out.
func agentOnly(name, doc string, n *inPod, validate func(plugins.Params) []error) *action {
	return &action{
		Action: plugins.Action{
			Name:       name,
			Doc:        doc + "; carried out by the node agent on the pod's node (" + agentManifest + ")",
			Reversible: true,
			Params:     n.schema(allowNodeWideParam),
		},
		kinds:    []string{kube.KindPod},
		targets:  inPodTargets,
		validate: validate,
		node:     n,
	}
}

// prepareInPod resolves the pod's container and the agent on its node,
// and names the agent's fault. It returns false when no agent runs there
// and the action has a local path.
func (f *Fault) prepareInPod(ctx context.Context, c k8s.Interface, a *action, params plugins.Params, rd *revertData) (bool, error) {
	p, err := samePod(ctx, c, rd)
	if err != nil {
		return false, err
	}
	node := p.Spec.NodeName
	ag, err := f.findAgent(ctx, c, node)
	if err != nil {
		return false, err
	}
	if ag == nil {
		if a.node.local {
			return false, nil
		}
		return false, noAgent(a.Name, node)
	}
	if _, err := agentLease(); err != nil {
		return false, err
	}
	name, _ := params["container"].(string)
	cs, err := containerStatus(p, name)
	if err != nil {
		return false, err
	}
	id, err := dockerID(p, cs)
	if err != nil {
		return false, err
	}
	rd.Node = node
	rd.Agent = &agentData{Addr: ag.client.Addr(), Pod: ag.Pod, ID: agent.NewID(), Node: node,
		Plugin: a.node.plugin, Action: a.node.action, Container: cs.Name, ContainerID: id}
	if a.node.prepared != nil {
		a.node.prepared(rd, cs, params)
	}
	return true, nil
}

// dockerID is the container's Docker id: the agent reaches containers
// through its node's Docker Engine (the kubelet with cri-dockerd).
func dockerID(p *corev1.Pod, cs corev1.ContainerStatus) (string, error) {
	if cs.ContainerID == "" {
		return "", fmt.Errorf("container %s of pod %s/%s has not started: no container id yet", cs.Name, p.Namespace, p.Name)
	}
	id, ok := strings.CutPrefix(cs.ContainerID, "docker://")
	if !ok {
		rt, _, _ := strings.Cut(cs.ContainerID, "://")
		return "", fmt.Errorf("container %s of pod %s/%s runs on %s, not Docker: in-pod faults reach a container through its node's Docker Engine (cri-dockerd)", cs.Name, p.Namespace, p.Name, rt)
	}
	return id, nil
}

// injectInPod asks the agent to inject, then keeps its lease alive (a
// reversible action) or releases it (an instantaneous one).
func (f *Fault) injectInPod(ctx context.Context, a *action, req plugins.InjectRequest, rd *revertData) error {
	ad := rd.Agent
	lease, err := agentLease()
	if err != nil {
		return err
	}
	cl, err := f.agentAt(ad.Addr)
	if err != nil {
		return fmt.Errorf("%s: %w", ad.who(), err)
	}
	host, _ := os.Hostname()
	fa, err := cl.Inject(ctx, agent.InjectRequest{
		ID: ad.ID, Plugin: ad.Plugin, Action: ad.Action,
		Params:   a.node.nodeParams(req.Params),
		Selector: plugins.Params{a.node.selectorKey: ad.ContainerID},
		Duration: req.Duration, Lease: lease,
		By: fmt.Sprintf("chaosctl on %s: kubernetes %s on pod %s/%s", host, a.Name, rd.Namespace, rd.Name),
	})
	if err != nil {
		return fmt.Errorf("%s %s on container %s of pod %s/%s through the %s: %w", ad.Plugin, ad.Action, ad.Container, rd.Namespace, rd.Name, ad.who(), err)
	}
	switch {
	case !a.Reversible && fa.State == agent.StateReverted:
		// Instantaneous: the agent holds nothing.
		return nil
	case fa.State != agent.StateHeld:
		return fmt.Errorf("%s answered the inject of %s with state %q: %s", ad.who(), ad.ID, fa.State, strings.Join(fa.Notes, "; "))
	}
	if !a.Reversible {
		// Nothing to hold: release the agent's record now rather than
		// leave it to the lease.
		if _, err := cl.Revert(context.WithoutCancel(ctx), ad.ID); err != nil {
			f.log.Warn().Err(err).Str("agent_fault", ad.ID).Str("node", ad.Node).Msg("releasing an instantaneous fault at the node agent failed; its lease ends it")
		}
		return nil
	}
	f.keepAlive(ctx, cl, ad, lease, req.Duration)
	return nil
}

// renewalSlack is how long past a fault's duration its lease is still
// renewed, waiting for the engine's revert (its own bound is 2 minutes).
const renewalSlack = 3 * time.Minute

// renewal is one fault whose lease this process renews.
type renewal struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// keepAlive renews the lease of ad's fault every third of it, until
// stopRenewing (Revert) or the end of this process.
func (f *Fault) keepAlive(ctx context.Context, cl agentClient, ad *agentData, lease, duration time.Duration) {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if duration > 0 {
		// Never for ever: a revert that does not come (a lost engine, an
		// operator's "faults forget") leaves the fault to the agent's
		// lease, past the fault's duration and the revert's bound.
		rctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), duration+renewalSlack)
	}
	r := &renewal{cancel: cancel, done: make(chan struct{})}
	f.renewMu.Lock()
	if f.renewals == nil {
		f.renewals = map[string]*renewal{}
	}
	old := f.renewals[ad.ID]
	f.renewals[ad.ID] = r
	f.renewMu.Unlock()
	if old != nil {
		old.stop()
	}
	log := f.log.With().Str("agent_fault", ad.ID).Str("agent", ad.Pod).Str("node", ad.Node).Logger()
	go func() {
		defer close(r.done)
		renew(rctx, cl, ad.ID, lease/3, log)
		f.renewMu.Lock()
		if f.renewals[ad.ID] == r {
			delete(f.renewals, ad.ID)
		}
		f.renewMu.Unlock()
	}()
}

func (r *renewal) stop() {
	r.cancel()
	<-r.done
}

// stopRenewing stops the renewals of the agent's fault id, if any, and
// waits until no renewal is in flight.
func (f *Fault) stopRenewing(id string) {
	f.renewMu.Lock()
	r := f.renewals[id]
	delete(f.renewals, id)
	f.renewMu.Unlock()
	if r != nil {
		r.stop()
	}
}

// renew renews the lease every period until ctx ends or the agent no
// longer holds the fault. A failed renewal is retried at the next period:
// the agent reverts the fault itself if the lease runs out meanwhile.
func renew(ctx context.Context, cl agentClient, id string, every time.Duration, log zerolog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, every)
		fa, err := cl.Renew(cctx, id)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case errors.Is(err, agent.ErrUnknownFault), errors.Is(err, agent.ErrRefused):
			log.Warn().Err(err).Msg("the node agent no longer holds the fault: lease renewals stop")
			return
		case err != nil:
			if !failing {
				log.Warn().Err(err).Msg("lease renewal failed, retrying; the agent reverts the fault if its lease runs out")
			}
			failing = true
		case fa.State != agent.StateHeld:
			log.Warn().Str("state", fa.State).Strs("notes", fa.Notes).Msg("the node agent no longer holds the fault: lease renewals stop")
			return
		default:
			if failing {
				log.Info().Msg("lease renewed again")
			}
			failing = false
		}
	}
}

// revertInPod stops the renewals and asks the agent to revert.
func (f *Fault) revertInPod(ctx context.Context, c k8s.Interface, rd revertData, log zerolog.Logger) error {
	ad := rd.Agent
	f.stopRenewing(ad.ID)
	log = log.With().Str("agent_fault", ad.ID).Str("agent", ad.Pod).Str("node", ad.Node).Logger()
	fa, err := f.atAgent(ctx, c, ad, func(cl agentClient) (agent.Fault, error) { return cl.Revert(ctx, ad.ID) })
	switch {
	case errors.Is(err, agent.ErrUnknownFault):
		log.Info().Msg("the node agent holds no such fault (it was never injected, or the agent's ledger went with its node): nothing to revert")
		return nil
	case errors.Is(err, agent.ErrUnreachable):
		gone, gerr := podGone(ctx, c, rd)
		if gerr == nil && gone != "" {
			log.Warn().Err(err).Msgf("the node agent is unreachable, and pod %s/%s is %s: the revert counts as done", rd.Namespace, rd.Name, gone)
			return nil
		}
		return fmt.Errorf("revert %s on pod %s/%s: %w", ad.ID, rd.Namespace, rd.Name, errors.Join(err, gerr))
	case err != nil:
		return fmt.Errorf("revert %s on pod %s/%s: %w", ad.ID, rd.Namespace, rd.Name, err)
	}
	switch fa.State {
	case agent.StateReverted:
		if len(fa.Notes) > 0 {
			log.Info().Strs("notes", fa.Notes).Msg("reverted by the node agent")
		}
		return nil
	case agent.StateRevertFailed:
		return fmt.Errorf("%s: revert of %s on pod %s/%s failed (the agent retries it): %s", ad.who(), ad.ID, rd.Namespace, rd.Name, fa.RevertError)
	}
	return fmt.Errorf("%s answered the revert of %s with state %q", ad.who(), ad.ID, fa.State)
}

// statusInPod is the agent's account of the fault: the state it holds it
// in, and its plugin's Status now.
func (f *Fault) statusInPod(ctx context.Context, c k8s.Interface, rd revertData) (plugins.Status, error) {
	ad := rd.Agent
	fa, err := f.atAgent(ctx, c, ad, func(cl agentClient) (agent.Fault, error) { return cl.Get(ctx, ad.ID) })
	switch {
	case errors.Is(err, agent.ErrUnknownFault):
		return plugins.Status{Detail: ad.who() + " holds no fault " + ad.ID + " (never injected, or the agent's ledger went with its node)"}, nil
	case errors.Is(err, agent.ErrUnreachable):
		if gone, gerr := podGone(ctx, c, rd); gerr == nil && gone != "" {
			return plugins.Status{Detail: fmt.Sprintf("pod %s/%s is %s; the %s is unreachable", rd.Namespace, rd.Name, gone, ad.who())}, nil
		}
		return plugins.Status{}, err
	case err != nil:
		return plugins.Status{}, err
	}
	switch fa.State {
	case agent.StateHeld:
		if fa.StatusError != "" || fa.Status == nil {
			// Held, but the node plugin could not tell whether it is in
			// effect: unverified, never a guess either way.
			return plugins.Status{}, fmt.Errorf("%s holds %s, but its plugin could not tell whether it is in effect: %w: %s", ad.who(), ad.ID, plugins.ErrUnimplemented, fa.StatusError)
		}
		return plugins.Status{Active: fa.Status.Active, Detail: ad.who() + ": " + fa.Status.Detail, Lasting: fa.Status.Lasting}, nil
	case agent.StateReverted:
		d := ad.who() + ": reverted"
		if len(fa.Notes) > 0 {
			d += ": " + strings.Join(fa.Notes, "; ")
		}
		return plugins.Status{Detail: d}, nil
	case agent.StateRevertFailed:
		return plugins.Status{Active: true, Detail: ad.who() + ": revert failed, the agent retries it: " + fa.RevertError}, nil
	}
	return plugins.Status{Active: true, Detail: fmt.Sprintf("%s: state %s: %s", ad.who(), fa.State, strings.Join(fa.Notes, "; "))}, nil
}

// atAgent calls do on the agent that holds ad's fault: at its recorded
// address, else, when nothing answers there (the agent's pod was
// recreated with a new IP), at the agent on its node now.
func (f *Fault) atAgent(ctx context.Context, c k8s.Interface, ad *agentData, do func(agentClient) (agent.Fault, error)) (agent.Fault, error) {
	cl, err := f.agentAt(ad.Addr)
	if err != nil {
		return agent.Fault{}, fmt.Errorf("%s: %w", ad.who(), err)
	}
	fa, err := do(cl)
	if !errors.Is(err, agent.ErrUnreachable) {
		return fa, err
	}
	now, derr := f.findAgent(ctx, c, ad.Node)
	switch {
	case derr != nil:
		return fa, errors.Join(err, derr)
	case now == nil:
		return fa, fmt.Errorf("%w; no node agent runs on node %s now", err, ad.Node)
	case now.client.Addr() == cl.Addr():
		return fa, err
	}
	return do(now.client)
}

// podGone says whether the pod rd names is "gone" or "replaced" (another
// UID), "" while it is still there.
func podGone(ctx context.Context, c k8s.Interface, rd revertData) (string, error) {
	p, err := c.CoreV1().Pods(rd.Namespace).Get(ctx, rd.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "gone", nil
	case err != nil:
		return "", kube.Explain(err, "get", "pods", rd.Namespace)
	case p.UID != rd.UID:
		return "replaced", nil
	}
	return "", nil
}

// agentsOnNodes names, for the dry run and preflight, the node agent that
// will carry out an in-pod action on each target ("via node agent
// ns/pod"); an agent-only action without an agent on a target's node is
// an error, one with a local path says it runs here.
func (f *Fault) agentsOnNodes(ctx context.Context, c k8s.Interface, a *action, ts []plugins.Target) error {
	via := map[string]string{}
	for i, t := range ts {
		node := t.Attrs[attrNode]
		v, seen := via[node]
		if !seen {
			ag, err := f.findAgent(ctx, c, node)
			switch {
			case err != nil:
				return err
			case ag != nil:
				v = "via node agent " + ag.Pod
			case a.node.local:
				v = "from this machine's Docker Engine (no node agent on " + node + ")"
			default:
				return noAgent(a.Name, node)
			}
			via[node] = v
		}
		ts[i].Name += " " + v
	}
	return nil
}
