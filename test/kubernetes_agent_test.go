//go:build k8s

package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/chaosctl/chaosctl/internal/agent"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins"
)

// The node agent, for real: contrib/kubernetes/agent.yaml's DaemonSet runs
// chaosctl (a FROM scratch image of the binary under test) as a pod on the
// cluster's node, and the in-pod faults of the kubernetes plugin go
// through it. What differs from the manifest is only what this machine
// needs: the agent on the host's network at 127.0.0.1 (no traffic to pod
// or node IPs here), hence plain http on loopback and an address
// annotation, the image built here, and its ledger in a test directory.

const (
	agentNamespace = "chaosctl-agent-e2e"
	agentImage     = "chaosctl-k8s/chaosctl:e2e"
	agentListen    = "127.0.0.1:17071"
)

var (
	agentImageOnce sync.Once
	agentImageErr  error
)

// buildAgentImage builds the agent's image from the chaosctl binary under
// test, once per test binary.
func buildAgentImage(t testing.TB) {
	t.Helper()
	agentImageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chaosctl-agent-image-")
		if err != nil {
			agentImageErr = err
			return
		}
		defer os.RemoveAll(dir)
		b, err := os.ReadFile(bins.chaosctl)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "chaosctl"), b, 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY chaosctl /chaosctl\nENTRYPOINT [\"/chaosctl\"]\n"), 0o644)
		}
		if err != nil {
			agentImageErr = err
			return
		}
		out, err := exec.Command("docker", "build", "-q", "-t", agentImage, "--label", "chaosctl.k8s.image=true", dir).CombinedOutput()
		if err != nil {
			agentImageErr = fmt.Errorf("docker build %s: %v\n%s", agentImage, err, out)
		}
	})
	if agentImageErr != nil {
		t.Fatal(agentImageErr)
	}
}

// nodeAgent deploys the node agent and points the chaosctl processes the
// test starts at it. The agent's namespace goes when the test ends: its
// shutdown reverts what it holds.
func nodeAgent(t testing.TB, c kubernetes.Interface, lease time.Duration) *agent.Client {
	t.Helper()
	buildAgentImage(t)
	ctx := context.Background()
	tokenFile := filepath.Join(t.TempDir(), "agent-token")
	var tb [24]byte
	_, _ = rand.Read(tb[:])
	token := hex.EncodeToString(tb[:])
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ledger := t.TempDir() // removed after the namespace, whose cleanup runs first
	namespace(t, c, agentNamespace)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command(filepath.Join(os.Getenv("CHAOSCTL_K8S_BIN"), "kubectl"), "-n", agentNamespace, "logs", "--tail=60", "daemonset/chaosctl-agent").CombinedOutput()
			t.Logf("node agent's log:\n%s", out)
		}
	})
	if _, err := c.CoreV1().Secrets(agentNamespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "chaosctl-agent-token"}, StringData: map[string]string{"token": token},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, o := range agentManifest(t) {
		var err error
		switch o := o.(type) {
		case *corev1.ConfigMap:
			o.Namespace = agentNamespace
			o.Data["agent.toml"] = fmt.Sprintf(`scenario_dirs = []
store = "/var/lib/chaosctl-agent/agent.db"
log_level = "debug"
[api]
socket = ""
listen = %q
token_file = "/etc/chaosctl-agent/token/token"
[agent]
enabled = true
`, agentListen)
			_, err = c.CoreV1().ConfigMaps(agentNamespace).Create(ctx, o, metav1.CreateOptions{})
		case *appsv1.DaemonSet:
			o.Namespace = agentNamespace
			editAgentDaemonSet(t, o, ledger)
			_, err = c.AppsV1().DaemonSets(agentNamespace).Create(ctx, o, metav1.CreateOptions{})
		case *networkingv1.NetworkPolicy:
			o.Namespace = agentNamespace
			_, err = c.NetworkingV1().NetworkPolicies(agentNamespace).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("agent.yaml: unexpected %T", o)
		}
		if err != nil {
			t.Fatalf("create from agent.yaml: %v", err)
		}
	}
	waitUntil(t, 90*time.Second, "the node agent ready", func() bool { return agentPod(t, c) != nil })
	t.Setenv(agent.EnvNamespace, agentNamespace)
	t.Setenv(agent.EnvTokenFile, tokenFile)
	t.Setenv(agent.EnvLease, lease.String())
	cl, err := agent.NewClient("http://"+agentListen, agent.Options{TokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// agentManifest decodes contrib/kubernetes/agent.yaml.
func agentManifest(t testing.TB) []any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "contrib", "kubernetes", "agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var out []any
	for {
		doc, err := r.Read()
		if err != nil {
			break
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		o, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("agent.yaml: %v", err)
		}
		out = append(out, o)
	}
	return out
}

// editAgentDaemonSet changes what this machine needs changed, and checks
// the rest of the manifest is what it says.
func editAgentDaemonSet(t testing.TB, ds *appsv1.DaemonSet, ledger string) {
	t.Helper()
	ps := &ds.Spec.Template.Spec
	if !ps.HostPID || len(ps.Containers) != 1 {
		t.Fatalf("agent.yaml: want one container with hostPID, got hostPID %v, %d containers", ps.HostPID, len(ps.Containers))
	}
	ct := &ps.Containers[0]
	ct.Image, ct.ImagePullPolicy = agentImage, corev1.PullNever
	ps.HostNetwork = true
	ds.Spec.Template.Annotations = map[string]string{agent.AddressAnnotation: "http://" + agentListen}
	ct.Ports = []corev1.ContainerPort{{Name: "agent", ContainerPort: 17071}}
	ct.ReadinessProbe.TCPSocket = &corev1.TCPSocketAction{Host: "127.0.0.1", Port: intstr.FromString("agent")}
	var mounts []corev1.VolumeMount
	for _, m := range ct.VolumeMounts {
		if m.Name != "tls" { // plain http on loopback
			mounts = append(mounts, m)
		}
	}
	ct.VolumeMounts = mounts
	var vols []corev1.Volume
	for _, v := range ps.Volumes {
		switch v.Name {
		case "tls":
			continue
		case "ledger":
			v.HostPath.Path = ledger
		}
		vols = append(vols, v)
	}
	ps.Volumes = vols
}

// agentPod is the node agent's pod when it is running and ready.
func agentPod(t testing.TB, c kubernetes.Interface) *corev1.Pod {
	t.Helper()
	l, err := c.CoreV1().Pods(agentNamespace).List(context.Background(), metav1.ListOptions{LabelSelector: agent.PodLabelKey + "=" + agent.PodLabelValue})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range l.Items {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		for _, cd := range p.Status.Conditions {
			if cd.Type == corev1.PodReady && cd.Status == corev1.ConditionTrue {
				return &l.Items[i]
			}
		}
	}
	return nil
}

// podPid is the host pid of the first container of the one pod in ns.
func podPid(t testing.TB, c kubernetes.Interface, ns string) int {
	t.Helper()
	l, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(l.Items) != 1 || len(l.Items[0].Status.ContainerStatuses) == 0 {
		t.Fatalf("want one pod with a container in %s: %v", ns, err)
	}
	return containerPid(t, l.Items[0].Status.ContainerStatuses[0].ContainerID)
}

func containerPid(t testing.TB, id string) int {
	t.Helper()
	id = strings.TrimPrefix(id, "docker://")
	out, err := exec.Command("docker", "inspect", "-f", "{{.State.Pid}}", id).Output()
	if err != nil {
		t.Fatalf("docker inspect %s: %v", id, err)
	}
	var pid int
	if _, err := fmt.Sscan(string(out), &pid); err != nil || pid <= 0 {
		t.Fatalf("container %s has no pid: %q", id, out)
	}
	return pid
}

// nftRules is the ground truth of a network fault: chaosctl's rules in
// the network namespace of pid, as nft lists them.
func nftRules(t testing.TB, pid int) int {
	t.Helper()
	out, err := exec.Command("nsenter", "-t", fmt.Sprint(pid), "-n", "nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset in the pod: %v\n%s", err, out)
	}
	return strings.Count(string(out), "chaosctl:")
}

// qdiscs is the root qdisc of eth0 in the network namespace of pid.
func qdiscs(t testing.TB, pid int) string {
	t.Helper()
	out, err := exec.Command("nsenter", "-t", fmt.Sprint(pid), "-n", "tc", "qdisc", "show", "dev", "eth0").CombinedOutput()
	if err != nil {
		t.Fatalf("tc qdisc show in the pod: %v\n%s", err, out)
	}
	return string(out)
}

// agentFaultOf is the agent's fault that a journal's fault went to.
// passedThroughAgent runs the example scenario, which must pass with its
// one fault's effect confirmed and carried out by the node agent as
// plugin/action; a reversible one (reverted) must be reverted, by chaosctl
// and in the agent's own record.
func passedThroughAgent(t *testing.T, cl *agent.Client, example, plugin, action string, reverted bool) journal.Fault {
	t.Helper()
	r := runExample(t, example)
	j := r.journal
	if j.Verdict != journal.Passed {
		t.Fatalf("verdict %s (exit %d), want passed\n%s\n%s", j.Verdict, r.code, r.stdout, r.stderr)
	}
	f := j.Faults[0]
	if f.Effect != journal.EffectConfirmed || (reverted && f.RevertedAt == nil) {
		t.Fatalf("fault effect %q %q, reverted %v", f.Effect, f.EffectDetail, f.RevertedAt)
	}
	af := agentFaultOf(t, cl, f)
	if af.Plugin != plugin || af.Action != action || (reverted && af.State != agent.StateReverted) {
		t.Fatalf("the agent's fault: %+v, want %s/%s (reverted: %v)", af, plugin, action, reverted)
	}
	return f
}

func agentFaultOf(t testing.TB, cl *agent.Client, f journal.Fault) agent.Fault {
	t.Helper()
	var rd struct {
		Agent *struct {
			ID   string `json:"id"`
			Addr string `json:"addr"`
		} `json:"agent"`
	}
	if err := json.Unmarshal(f.RevertData, &rd); err != nil || rd.Agent == nil || rd.Agent.ID == "" {
		t.Fatalf("the fault's revert data names no node agent: %s (%v)", f.RevertData, err)
	}
	if rd.Agent.Addr != "http://"+agentListen {
		t.Errorf("revert data's agent %s, want http://%s", rd.Agent.Addr, agentListen)
	}
	af, err := cl.Get(context.Background(), rd.Agent.ID)
	if err != nil {
		t.Fatalf("the agent does not know the fault %s: %v", rd.Agent.ID, err)
	}
	return af
}

// An in-pod network fault through the agent: the pod's own port is cut
// off inside its network namespace, its readiness check (exec, inside the
// pod) fails, ready replicas drop; the rules are gone after the revert and
// the pod is ready again: passed.
func TestKubernetesAgentNetworkBlock(t *testing.T) {
	c := kubeCluster(t)
	cl := nodeAgent(t, c, agent.DefaultLease)
	namespace(t, c, "shop")
	deployment(t, c, "shop", "checkout-api", 1)
	pid := podPid(t, c, "shop")
	truth := watchReady(t, c, "shop", "checkout-api")

	// The dry run names the pod and the agent that will cut it off.
	dry := runExample(t, "kubernetes-pod-network-block.toml", "--dry-run")
	if dry.code != 0 || !strings.Contains(dry.stdout, "pod:shop/checkout-api-") || !strings.Contains(dry.stdout, "via node agent "+agentNamespace+"/chaosctl-agent-") {
		t.Fatalf("dry run: exit %d\n%s\n%s", dry.code, dry.stdout, dry.stderr)
	}
	if n := nftRules(t, pid); n != 0 {
		t.Fatalf("the dry run injected: %d rules", n)
	}

	f := passedThroughAgent(t, cl, "kubernetes-pod-network-block.toml", "network", "block", true)
	if _, ok := truth.backTo(f.IntentAt, 1); !ok {
		t.Fatalf("the pod never went unready and back: %+v", truth.changes)
	}
	if n := nftRules(t, pid); n != 0 {
		t.Fatalf("%d chaosctl rules left in the pod's network namespace", n)
	}
}

// (e), carried out by the node agent: the pod's emptyDir is filled through
// the agent, which reaches it as the pod sees it.
func TestKubernetesAgentPodVolumeFull(t *testing.T) {
	c := kubeCluster(t)
	cl := nodeAgent(t, c, agent.DefaultLease)
	namespace(t, c, "notes")
	deploymentWith(t, c, "notes", "notes", 1, withVolume)
	truth := watchReady(t, c, "notes", "notes")

	f := passedThroughAgent(t, cl, "kubernetes-pod-volume-full.toml", "docker", "fill", true)
	if _, ok := truth.backTo(f.IntentAt, 1); !ok {
		t.Fatalf("the pod never went unready and back: %+v", truth.changes)
	}
	if n := fillFiles(t); n != 0 {
		t.Fatalf("%d fill files left in the pod's volume", n)
	}
	waitReady(t, c, "notes", "notes", 1)
}

// (d) through the agent: the container's main process killed from the
// agent; the kubelet restarts it.
func TestKubernetesAgentContainerCrash(t *testing.T) {
	c := kubeCluster(t)
	cl := nodeAgent(t, c, agent.DefaultLease)
	namespace(t, c, "shop")
	deployment(t, c, "shop", "checkout-api", 2)
	before := restarts(t, c, "shop")

	passedThroughAgent(t, cl, "kubernetes-container-crash.toml", "docker", "crash", false)
	var bumped int
	for uid, n := range restarts(t, c, "shop") {
		if n == before[uid]+1 {
			bumped++
		}
	}
	if bumped != 1 {
		t.Fatalf("pods whose restartCount went up by one: %d, want 1", bumped)
	}
}

// In-pod CPU stress through the agent: the workers run in the pod's own
// cgroup while the fault holds, and are gone after.
func TestKubernetesAgentStressInPodCgroup(t *testing.T) {
	c := kubeCluster(t)
	nodeAgent(t, c, agent.DefaultLease)
	namespace(t, c, "shop")
	deployment(t, c, "shop", "checkout-api", 1)
	procs := cgroupProcs(t, podPid(t, c, "shop"))
	if n := procs(); n != 1 {
		t.Fatalf("the pod's cgroup holds %d processes before the fault, want 1", n)
	}
	path := writeScenario(t, kubeFaultScenario, map[string]string{
		"Action": "stress-cpu", "Target": `namespace = "shop"` + "\n" + `owner = "Deployment/checkout-api"`, "Params": "workers = 1\nload = 30.0",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.chaosctl, "run", "--local", path, "--journal-dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGINT); _ = cmd.Wait() }()
	waitUntil(t, 30*time.Second, "a stress worker in the pod's cgroup", func() bool { return procs() == 2 })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if n := procs(); n != 1 {
		t.Fatalf("%d processes in the pod's cgroup after the run, want 1: a worker left behind", n)
	}
}

// cgroupProcs counts the processes in the cpu cgroup (v1) of pid.
func cgroupProcs(t testing.TB, pid int) func() int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	var rel, ctrl string
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && strings.Contains(","+parts[1]+",", ",cpu,") {
			ctrl, rel = parts[1], parts[2]
		}
	}
	if rel == "" {
		t.Fatalf("no cpu cgroup for pid %d:\n%s", pid, b)
	}
	file := filepath.Join("/sys/fs/cgroup", ctrl, rel, "cgroup.procs")
	return func() int {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return len(strings.Fields(string(b)))
	}
}

// In-pod latency needs netem (a qdisc in the pod's namespace). Where the
// kernel or the agent cannot add one, the agent refuses with the reason
// and nothing is injected; where it can, the qdisc is there.
func TestKubernetesAgentLatency(t *testing.T) {
	c := kubeCluster(t)
	nodeAgent(t, c, agent.DefaultLease)
	namespace(t, c, "shop")
	deployment(t, c, "shop", "checkout-api", 1)
	pid := podPid(t, c, "shop")
	before := qdiscs(t, pid)
	path := writeScenario(t, kubeFaultScenario, map[string]string{
		"Action": "latency", "Target": `namespace = "shop"` + "\n" + `owner = "Deployment/checkout-api"`, "Params": `delay = "50ms"`,
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := chaosctl(t, ctx, "run", "--local", path)
	out := r.stdout + r.stderr
	if r.code == 0 {
		t.Fatalf("a 10-minute fault run ended with exit 0\n%s", out)
	}
	if !strings.Contains(out, "netem unavailable") {
		t.Fatalf("want the agent's refusal naming netem, got exit %d\n%s", r.code, out)
	}
	if after := qdiscs(t, pid); after != before {
		t.Fatalf("a refused latency fault changed the pod's qdisc: %q -> %q", before, after)
	}
}

// Crash safety through the agent: chaosctl is killed with -9 while an
// in-pod fault holds. Its renewals stop, and the agent reverts the fault
// when the lease runs out; or `chaosctl recover` reverts it at once
// through the agent.
func TestKubernetesAgentKilledMidFault(t *testing.T) {
	c := kubeCluster(t)
	for _, tc := range []struct {
		name, action, params string
		lease                time.Duration
		recover              bool
		injected             func(pid int) bool
	}{
		{"block, lease runs out", "network-block", `ports = ["8080"]`, 3 * time.Second, false, func(pid int) bool { return nftRules(t, pid) > 0 }},
		{"block, recover", "network-block", `ports = ["8080"]`, 5 * time.Minute, true, func(pid int) bool { return nftRules(t, pid) > 0 }},
		{"bandwidth qdisc, recover", "network-bandwidth", `rate = "1mbit"`, 5 * time.Minute, true, func(pid int) bool { return strings.Contains(qdiscs(t, pid), "tbf") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodeAgent(t, c, tc.lease)
			namespace(t, c, "shop")
			deployment(t, c, "shop", "checkout-api", 1)
			pid := podPid(t, c, "shop")
			path := writeScenario(t, kubeFaultScenario, map[string]string{
				"Action": tc.action, "Target": `namespace = "shop"` + "\n" + `owner = "Deployment/checkout-api"`, "Params": tc.params,
			})
			dir := t.TempDir()
			cmd := exec.Command(bins.chaosctl, "run", "--local", path, "--journal-dir", dir)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, 30*time.Second, tc.name+" injected in the pod", func() bool { return tc.injected(pid) })
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			killed := time.Now()
			time.Sleep(500 * time.Millisecond)
			if !tc.injected(pid) {
				t.Fatal("the fault ended with the run: this test proves nothing")
			}
			if tc.recover {
				r := chaosctlIn(t, "recover", "--journal-dir", dir)
				if r.code != 0 || !strings.Contains(r.stdout, "1 reverted") {
					t.Fatalf("recover: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
				}
				if tc.injected(pid) {
					t.Fatal("recover said it reverted, but the pod still has the fault")
				}
				return
			}
			waitUntil(t, tc.lease+10*time.Second, "the agent to revert when the lease ran out", func() bool { return !tc.injected(pid) })
			if d := time.Since(killed); d < tc.lease-time.Second {
				t.Fatalf("reverted %v after the kill, before the lease of %v ran out", d, tc.lease)
			}
		})
	}
}

// A node agent killed with -9 while it holds a fault: the kubelet restarts
// it, and the restarted agent reverts the fault from its ledger.
func TestKubernetesAgentRestartReverts(t *testing.T) {
	c := kubeCluster(t)
	cl := nodeAgent(t, c, agent.DefaultLease)
	namespace(t, c, "shop")
	deployment(t, c, "shop", "checkout-api", 1)
	l, err := c.CoreV1().Pods("shop").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("pods: %v", err)
	}
	id := strings.TrimPrefix(l.Items[0].Status.ContainerStatuses[0].ContainerID, "docker://")
	pid := containerPid(t, id)
	ctx := context.Background()
	f, err := cl.Inject(ctx, agent.InjectRequest{
		ID: agent.NewID(), Plugin: "network", Action: "block", Lease: agent.MaxLease, By: t.Name(),
		Params: plugins.Params{"ports": []any{"8080"}}, Selector: plugins.Params{"name": id},
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.State != agent.StateHeld || nftRules(t, pid) == 0 {
		t.Fatalf("inject: %+v, rules %d", f, nftRules(t, pid))
	}
	ap := agentPod(t, c)
	restarts := ap.Status.ContainerStatuses[0].RestartCount
	if out, err := exec.Command("docker", "kill", "--signal", "KILL", strings.TrimPrefix(ap.Status.ContainerStatuses[0].ContainerID, "docker://")).CombinedOutput(); err != nil {
		t.Fatalf("kill the agent: %v\n%s", err, out)
	}
	waitUntil(t, 60*time.Second, "the kubelet to restart the agent", func() bool {
		p := agentPod(t, c)
		return p != nil && p.Status.ContainerStatuses[0].RestartCount > restarts
	})
	if n := nftRules(t, pid); n != 0 {
		t.Fatalf("the restarted agent left %d rules of its predecessor's fault", n)
	}
	if g, err := cl.Revert(ctx, f.ID); err == nil && g.State != agent.StateReverted {
		t.Fatalf("after the restart the fault is %+v", g)
	}
}

// A fill through the agent outlives the container it went in by: the
// pod's app crashes (killed here) while its volume is full, the kubelet
// starts a new container, and the revert still removes the file, through
// the container that took its place.
func TestKubernetesAgentFillRevertedAfterContainerRestart(t *testing.T) {
	c := kubeCluster(t)
	nodeAgent(t, c, agent.DefaultLease)
	namespace(t, c, "shop")
	deploymentWith(t, c, "shop", "checkout-api", 1, withVolume)
	path := writeScenario(t, kubeFaultScenario, map[string]string{
		"Action": "fill", "Target": `namespace = "shop"` + "\n" + `owner = "Deployment/checkout-api"`, "Params": `path = "/data"`,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	jpath := filepath.Join(t.TempDir(), "journal.json")
	cmd := exec.CommandContext(ctx, bins.chaosctl, "run", "--local", path, "--journal", jpath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGINT); _ = cmd.Wait() }()
	waitUntil(t, 30*time.Second, "the pod's volume filled", func() bool { return fillFiles(t) == 1 })
	before := restarts(t, c, "shop")
	l, err := c.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("pods: %v", err)
	}
	old := strings.TrimPrefix(l.Items[0].Status.ContainerStatuses[0].ContainerID, "docker://")
	if out, err := exec.Command("docker", "kill", "--signal", "KILL", old).CombinedOutput(); err != nil {
		t.Fatalf("crash the app: %v\n%s", err, out)
	}
	waitUntil(t, 60*time.Second, "the kubelet to start a new container in the pod", func() bool {
		p, err := c.CoreV1().Pods("shop").Get(ctx, l.Items[0].Name, metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 {
			return false
		}
		cs := p.Status.ContainerStatuses[0]
		return cs.State.Running != nil && !strings.HasSuffix(cs.ContainerID, old)
	})
	if fillFiles(t) != 1 {
		t.Fatal("the fill file went with the container: this test proves nothing")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	b, err := os.ReadFile(jpath)
	if n := fillFiles(t); n != 0 {
		t.Fatalf("%d fill files left in the pod's volume after the revert; journal:\n%s", n, b)
	}
	if err != nil {
		t.Fatal(err)
	}
	var j journal.Journal
	if err := json.Unmarshal(b, &j); err != nil || len(j.Faults) != 1 || j.Faults[0].RevertedAt == nil || j.Faults[0].RevertError != "" {
		t.Fatalf("journal: %v, faults %+v", err, j.Faults)
	}
	if after := restarts(t, c, "shop"); len(after) != 1 {
		t.Fatalf("restarts %v -> %v", before, after)
	}
}

// The daemon as the controller: `chaosctl run` through a daemon, whose
// kubernetes plugin sends the in-pod fault to the node agent, and reverts
// it there.
func TestKubernetesAgentThroughTheDaemon(t *testing.T) {
	c := kubeCluster(t)
	cl := nodeAgent(t, c, agent.DefaultLease)
	namespace(t, c, "shop")
	deployment(t, c, "shop", "checkout-api", 1)
	pid := podPid(t, c, "shop")
	d := newDaemonDir(t)
	d.start(t)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := chaosctl(t, ctx, "run", "--socket", d.socket, kubeExample("kubernetes-pod-network-block.toml"))
	if r.journal == nil || r.journal.Verdict != journal.Passed {
		t.Fatalf("through the daemon: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var run journal.Journal
	if code := d.get(t, "/v1/runs/"+r.journal.RunID, &run); code != http.StatusOK || run.Verdict != journal.Passed {
		t.Fatalf("the daemon has no passed run %s (%d %s): it did not go through the daemon", r.journal.RunID, code, run.Verdict)
	}
	if af := agentFaultOf(t, cl, r.journal.Faults[0]); af.State != agent.StateReverted {
		t.Fatalf("the agent's fault: %+v", af)
	}
	if n := nftRules(t, pid); n != 0 {
		t.Fatalf("%d chaosctl rules left in the pod", n)
	}
}
