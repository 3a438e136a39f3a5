// Package kubernetes is the "kubernetes" fault plugin, one file per
// action. Through the Kubernetes API (k8s.io/client-go): delete or evict
// pods, scale a Deployment or StatefulSet, cordon or drain a node, isolate
// pods behind a deny NetworkPolicy.
//
// In-pod faults act inside one container of a pod, from its node: the
// node agent there (chaosctl daemon in agent mode, one pod per node,
// contrib/kubernetes/agent.yaml) carries them out with its own plugins,
// holding each under a lease this plugin renews (agent.go, in_pod.go).
// latency, stress-cpu, stress-memory, network-loss, network-block,
// network-bandwidth and network-dns need the agent. container-crash and
// fill use it when one runs on the pod's node, and otherwise act on this
// machine's Docker Engine (chaosctl itself on the pod's node).
//
// Revert data carries the objects' UIDs, so a revert never touches a
// different object of the same name: when the object was replaced
// meanwhile (a pod recreated by its controller), its revert is done.
package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/apimachinery/pkg/types"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/chaosctl/chaosctl/internal/agent"
	"github.com/chaosctl/chaosctl/internal/kube"
	"github.com/chaosctl/chaosctl/plugins"
)

// Fault implements the "kubernetes" plugin.
type Fault struct {
	mu      sync.Mutex
	clients map[kube.Config]k8s.Interface
	connect func(context.Context, kube.Config) (k8s.Interface, error)
	dial    func(addr string) (agentClient, error) // a node agent's client
	agents  map[string]agentClient                 // dialled, by address: one connection pool each
	log     zerolog.Logger

	renewMu  sync.Mutex
	renewals map[string]*renewal // by the agent's fault ID
}

var (
	_ plugins.Fault    = (*Fault)(nil)
	_ plugins.Preparer = (*Fault)(nil)
)

// New returns the kubernetes fault; it reaches the cluster named by each
// fault's target table, --kubeconfig/--context, $KUBECONFIG, or the
// in-cluster service account, on first use.
func New() *Fault {
	return &Fault{connect: kube.Connect, dial: dialAgent, log: zerolog.New(os.Stderr).With().Str("plugin", "kubernetes").Logger()}
}

func (f *Fault) client(ctx context.Context, c kube.Config) (k8s.Interface, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cs, ok := f.clients[c]; ok {
		return cs, nil
	}
	cs, err := f.connect(ctx, c)
	if err != nil {
		return nil, err
	}
	if f.clients == nil {
		f.clients = map[kube.Config]k8s.Interface{}
	}
	f.clients[c] = cs
	return cs, nil
}

// action is one kubernetes action: its schema and what it does.
type action struct {
	plugins.Action
	kinds    []string // object kinds it takes; the first is the default
	validate func(params plugins.Params) []error
	// targets lists what the action hits (default: pods).
	targets func(ctx context.Context, c k8s.Interface, s kube.Selector, params plugins.Params) ([]plugins.Target, error)
	// prepare fills what revert needs before inject runs; nil: the
	// target's identity is enough.
	prepare func(ctx context.Context, c k8s.Interface, t plugins.Target, params plugins.Params, rd *revertData) error
	inject  func(ctx context.Context, c k8s.Interface, t plugins.Target, params plugins.Params, rd *revertData) error
	revert  func(ctx context.Context, c k8s.Interface, rd revertData, log zerolog.Logger) error // nil: nothing to undo
	status  func(ctx context.Context, c k8s.Interface, rd revertData) (plugins.Status, error)
	// node: an in-pod action the node agent carries out (in_pod.go);
	// prepare, inject, revert and status are then its local path, if any.
	node *inPod
}

// actions is the one list of kubernetes actions.
var actions = []*action{
	podDeleteAction, podEvictAction, scaleAction, cordonAction, drainAction, networkPolicyAction,
	containerCrashAction, fillAction, latencyAction, stressCPUAction, stressMemoryAction,
	networkLossAction, networkBlockAction, networkBandwidthAction, networkDNSAction,
}

func lookup(name string) (*action, error) { return plugins.LookupAction(actions, name) }

// revertData is stored durably by the engine; a fresh process reverts
// from it alone.
type revertData struct {
	Kubeconfig string    `json:"kubeconfig,omitempty"`
	Context    string    `json:"context,omitempty"`
	Kind       string    `json:"kind"`
	Namespace  string    `json:"namespace,omitempty"`
	Name       string    `json:"name"`
	UID        types.UID `json:"uid"`
	Node       string    `json:"node,omitempty"`
	At         time.Time `json:"at"` // when the action was taken

	Scale  *scaleData  `json:"scale,omitempty"`
	Cordon *cordonData `json:"cordon,omitempty"`
	Policy *policyData `json:"policy,omitempty"`
	Crash  *crashData  `json:"crash,omitempty"`
	Fill   *fillData   `json:"fill,omitempty"`
	Agent  *agentData  `json:"agent,omitempty"` // in-pod: the node agent holds the fault
}

func (rd revertData) config() kube.Config {
	return kube.Config{Kubeconfig: rd.Kubeconfig, Context: rd.Context}.Or(kube.FromEnv())
}

func (rd revertData) object() string {
	if rd.Namespace == "" {
		return rd.Kind + " " + rd.Name
	}
	return rd.Kind + " " + rd.Namespace + "/" + rd.Name
}

// Describe lists the actions.
func (*Fault) Describe(context.Context) (plugins.Descriptor, error) {
	d := plugins.Descriptor{
		Name: "kubernetes", Version: "1",
		Doc: "Delete or evict pods, scale Deployments and StatefulSets, cordon or drain nodes, isolate pods with a NetworkPolicy, through the Kubernetes API; " +
			"and in-pod faults from the pod's node (crash, fill, latency, stress, network), carried out by the chaosctl node agent there (" + agentManifest + "). " +
			"kube-system, objects labelled chaosctl.skip=true and chaosctl's own pod are never targets.",
	}
	for _, a := range actions {
		x := a.Action
		x.Selector = kube.SelectorSchema(a.kinds...)
		d.Actions = append(d.Actions, x)
	}
	return d, nil
}

// Validate checks the selector and the action's parameters.
func (*Fault) Validate(_ context.Context, name string, params, sel plugins.Params) error {
	a, err := lookup(name)
	if err != nil {
		return err
	}
	_, errs := kube.ParseSelector(sel, a.kinds...)
	if a.validate != nil {
		errs = append(errs, a.validate(params)...)
	}
	return errors.Join(errs...)
}

// Targets lists the objects the action would hit.
func (f *Fault) Targets(ctx context.Context, name string, params plugins.Params, sel plugins.Params) ([]plugins.Target, error) {
	a, err := lookup(name)
	if err != nil {
		return nil, err
	}
	s, errs := kube.ParseSelector(sel, a.kinds...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c, err := f.client(ctx, s.Config)
	if err != nil {
		return nil, err
	}
	if a.targets == nil {
		return podTargets(ctx, c, s)
	}
	ts, err := a.targets(ctx, c, s, params)
	if err == nil && a.node != nil {
		err = f.agentsOnNodes(ctx, c, a, ts)
	}
	if err != nil {
		return nil, err
	}
	return ts, nil
}

// Target attributes the plugin reads back in Inject.
const (
	attrNamespace  = "namespace"
	attrUID        = "uid"
	attrNode       = "node"
	attrKubeconfig = "kubeconfig"
	attrContext    = "context"
	attrKind       = "kind"
)

func target(s kube.Selector, kind, ns, name string, uid types.UID, attrs map[string]string) plugins.Target {
	id := name
	if ns != "" {
		id = ns + "/" + name
	}
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs[attrNamespace], attrs[attrUID], attrs[attrKind] = ns, string(uid), kind
	if s.Config.Kubeconfig != "" {
		attrs[attrKubeconfig] = s.Config.Kubeconfig
	}
	if s.Config.Context != "" {
		attrs[attrContext] = s.Config.Context
	}
	return plugins.Target{Kind: kind, ID: id, Name: id, Attrs: attrs}
}

func podTargets(ctx context.Context, c k8s.Interface, s kube.Selector) ([]plugins.Target, error) {
	pods, err := kube.Pods(ctx, c, s, nil)
	if err != nil {
		return nil, err
	}
	out := make([]plugins.Target, len(pods))
	for i, p := range pods {
		out[i] = target(s, kube.KindPod, p.Namespace, p.Name, p.UID, map[string]string{attrNode: p.Spec.NodeName})
	}
	return out, nil
}

// baseData is the revert data every action starts from: the target.
func baseData(t plugins.Target) revertData {
	name := t.ID
	if ns := t.Attrs[attrNamespace]; ns != "" && len(name) > len(ns) {
		name = name[len(ns)+1:]
	}
	return revertData{
		Kubeconfig: t.Attrs[attrKubeconfig], Context: t.Attrs[attrContext],
		Kind: t.Kind, Namespace: t.Attrs[attrNamespace], Name: name,
		UID: types.UID(t.Attrs[attrUID]), Node: t.Attrs[attrNode],
	}
}

// Prepare names the revert data before anything is done, so that a crash
// during Inject can still be undone.
func (f *Fault) Prepare(ctx context.Context, req plugins.InjectRequest) ([]byte, error) {
	a, err := lookup(req.Action)
	if err != nil {
		return nil, err
	}
	rd := baseData(req.Target)
	if a.prepare != nil || a.node != nil {
		c, err := f.client(ctx, rd.config())
		if err != nil {
			return nil, err
		}
		if err := f.prepare(ctx, c, a, req, &rd); err != nil {
			return nil, err
		}
	}
	return json.Marshal(rd)
}

// prepare is the node agent's (an in-pod action, when one runs on the
// pod's node), else the action's own.
func (f *Fault) prepare(ctx context.Context, c k8s.Interface, a *action, req plugins.InjectRequest, rd *revertData) error {
	if a.node != nil {
		if viaAgent, err := f.prepareInPod(ctx, c, a, req.Params, rd); err != nil || viaAgent {
			return err
		}
	}
	if a.prepare == nil {
		return nil
	}
	return a.prepare(ctx, c, req.Target, req.Params, rd)
}

// Inject applies the action to one target.
func (f *Fault) Inject(ctx context.Context, req plugins.InjectRequest) ([]byte, error) {
	a, err := lookup(req.Action)
	if err != nil {
		return nil, err
	}
	rd := baseData(req.Target)
	if len(req.Prepared) > 0 {
		if err := json.Unmarshal(req.Prepared, &rd); err != nil {
			return nil, fmt.Errorf("prepared revert data: %w", err)
		}
	}
	c, err := f.client(ctx, rd.config())
	if err != nil {
		return nil, err
	}
	if len(req.Prepared) == 0 {
		if err := f.prepare(ctx, c, a, req, &rd); err != nil {
			return nil, err
		}
	}
	rd.At = time.Now()
	switch {
	case rd.Agent != nil:
		err = f.injectInPod(ctx, a, req, &rd)
	case a.inject == nil:
		return nil, noAgent(a.Name, rd.Node)
	default:
		err = a.inject(ctx, c, req.Target, req.Params, &rd)
	}
	if err != nil {
		// The agent's refusal changed nothing (and were the agent to hold
		// anything, unrenewed, its lease ends it); after any other failure
		// the agent may hold the fault, and its revert asks it.
		refused := rd.Agent != nil && errors.Is(err, agent.ErrRefused)
		if a.Reversible && !refused && (len(req.Prepared) > 0 || rd.Agent != nil) {
			b, _ := json.Marshal(rd)
			return b, err
		}
		return nil, err
	}
	return json.Marshal(rd)
}

// Revert undoes what Inject did, from its revert data alone.
func (f *Fault) Revert(ctx context.Context, name string, data []byte) error {
	a, err := lookup(name)
	if err != nil {
		return err
	}
	var rd revertData
	if err := json.Unmarshal(data, &rd); err != nil {
		return fmt.Errorf("revert data: %w", err)
	}
	if a.revert == nil && rd.Agent == nil {
		return nil
	}
	if rd.Agent != nil {
		// Whatever becomes of this revert, the lease is no longer
		// renewed from here: at worst the agent reverts when it ends.
		f.stopRenewing(rd.Agent.ID)
	}
	c, err := f.client(ctx, rd.config())
	if err != nil {
		return err
	}
	log := f.log.With().Str("action", name).Str("object", rd.object()).Logger()
	if rd.Agent != nil {
		return f.revertInPod(ctx, c, rd, log)
	}
	return a.revert(ctx, c, rd, log)
}

// Status reads the real state of the object the fault hit.
func (f *Fault) Status(ctx context.Context, name string, data []byte) (plugins.Status, error) {
	a, err := lookup(name)
	if err != nil {
		return plugins.Status{}, err
	}
	var rd revertData
	if err := json.Unmarshal(data, &rd); err != nil {
		return plugins.Status{}, fmt.Errorf("revert data: %w", err)
	}
	c, err := f.client(ctx, rd.config())
	if err != nil {
		return plugins.Status{}, err
	}
	switch {
	case rd.Agent != nil && (a.node == nil || !a.node.apiStatus):
		return f.statusInPod(ctx, c, rd)
	case a.status == nil:
		return plugins.Status{}, fmt.Errorf("revert data of %s names no fault at a node agent", rd.object())
	}
	return a.status(ctx, c, rd)
}
