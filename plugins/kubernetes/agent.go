package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/chaosctl/chaosctl/internal/agent"
	"github.com/chaosctl/chaosctl/internal/kube"
)

// Discovery of the node agent (chaosctl daemon in agent mode, one pod per
// node, contrib/kubernetes/agent.yaml) that carries out the in-pod faults
// on a pod's node: a pod of the agents' namespace ($CHAOSCTL_AGENT_NAMESPACE)
// labelled agent.PodLabelKey=agent.PodLabelValue, running and Ready on that
// node. It answers at its agent.AddressAnnotation, else at
// https://<pod IP>:agent.DefaultPort.

// ErrNoAgent: no node agent runs on the pod's node.
var ErrNoAgent = errors.New("no node agent on the node")

// agentManifest is what to apply when a node has no agent.
const agentManifest = "contrib/kubernetes/agent.yaml"

// agentClient is what the plugin asks of an agent (*agent.Client).
type agentClient interface {
	Addr() string
	Inject(ctx context.Context, r agent.InjectRequest) (agent.Fault, error)
	Renew(ctx context.Context, id string) (agent.Fault, error)
	Revert(ctx context.Context, id string) (agent.Fault, error)
	Get(ctx context.Context, id string) (agent.Fault, error)
}

var _ agentClient = (*agent.Client)(nil)

// dialAgent is a client of the agent at addr, with the options of the
// environment ($CHAOSCTL_AGENT_TOKEN_FILE, $CHAOSCTL_AGENT_CA_FILE).
func dialAgent(addr string) (agentClient, error) {
	return agent.NewClient(addr, agent.OptionsFromEnv())
}

// agentAt is the client of the agent at addr, dialled once: Status asks
// about once a second for every fault held, and a client per call would
// leave a connection behind each time, against the agent's
// api.max_connections.
func (f *Fault) agentAt(addr string) (agentClient, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cl, ok := f.agents[addr]; ok {
		return cl, nil
	}
	cl, err := f.dial(addr)
	if err != nil {
		return nil, err
	}
	if f.agents == nil {
		f.agents = map[string]agentClient{}
	}
	f.agents[addr] = cl
	return cl, nil
}

// nodeAgent is the agent found on one node.
type nodeAgent struct {
	Pod    string // namespace/name of the agent's pod
	Addr   string // as discovered; the client's Addr is its URL
	client agentClient
}

// agentNamespace is where the agents run.
func agentNamespace() string {
	if ns := os.Getenv(agent.EnvNamespace); ns != "" {
		return ns
	}
	return agent.DefaultNamespace
}

// agentLease is the lease of each fault an agent holds for us.
func agentLease() (time.Duration, error) {
	v := os.Getenv(agent.EnvLease)
	if v == "" {
		return agent.DefaultLease, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < agent.MinLease || d > agent.MaxLease {
		return 0, fmt.Errorf("%s=%q: want a duration in [%s, %s]", agent.EnvLease, v, agent.MinLease, agent.MaxLease)
	}
	return d, nil
}

// findAgent is the agent running and Ready on node: nil and no error when
// there is none (the caller decides whether that is an error).
func (f *Fault) findAgent(ctx context.Context, c k8s.Interface, node string) (*nodeAgent, error) {
	if node == "" {
		return nil, fmt.Errorf("the pod is not scheduled on a node: no node agent to ask")
	}
	ns := agentNamespace()
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set{agent.PodLabelKey: agent.PodLabelValue}.String(),
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
	})
	if err != nil {
		return nil, kube.Explain(err, "list", "pods", ns)
	}
	pods := list.Items
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for _, p := range pods {
		// The field selector is the API server's; check it here as well
		// (and the fake clientset of the tests ignores it).
		if p.Spec.NodeName != node || !ready(&p) {
			continue
		}
		addr, ok := agentAddress(&p)
		if !ok {
			continue
		}
		cl, err := f.agentAt(addr)
		if err != nil {
			return nil, fmt.Errorf("node agent %s/%s on node %s: %w", p.Namespace, p.Name, node, err)
		}
		return &nodeAgent{Pod: p.Namespace + "/" + p.Name, Addr: addr, client: cl}, nil
	}
	return nil, nil
}

// ready: running, Ready, not terminating.
func ready(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// agentAddress is the agent pod's annotation, else https://<pod IP>:DefaultPort.
func agentAddress(p *corev1.Pod) (string, bool) {
	if a := p.Annotations[agent.AddressAnnotation]; a != "" {
		return a, true
	}
	if p.Status.PodIP == "" {
		return "", false
	}
	return "https://" + net.JoinHostPort(p.Status.PodIP, strconv.Itoa(agent.DefaultPort)), true
}

// noAgent is the error of an action that needs the agent on node.
func noAgent(action, node string) error {
	return fmt.Errorf("%w: %s needs the chaosctl node agent on node %s, and none runs there, Ready, in namespace %s (label %s=%s): deploy %s",
		ErrNoAgent, action, node, agentNamespace(), agent.PodLabelKey, agent.PodLabelValue, agentManifest)
}
