//go:build k8s

// The Kubernetes suite: chaosctl against a real cluster on this machine
// (test/k8s/cluster.sh: etcd, kube-apiserver, controller-manager,
// scheduler, and a real kubelet running pods as Docker containers through
// cri-dockerd). `make test-k8s` brings the cluster up, runs these tests
// with -tags k8s and tears it down. Under CHAOSCTL_E2E=1 a missing cluster
// fails every test; it never skips silently.
package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/chaosctl/chaosctl/journal"
)

const (
	k8sTargetImage = "chaosctl-k8s/target:v1"
	k8sNode        = "localhost"
)

// kubeCluster is the cluster under test: its kubeconfig, exported to the
// chaosctl processes the test starts, and a client.
func kubeCluster(t testing.TB) kubernetes.Interface {
	t.Helper()
	path := os.Getenv("CHAOSCTL_K8S_KUBECONFIG")
	if path == "" {
		if os.Getenv("CHAOSCTL_E2E") == "1" {
			t.Fatal("no cluster: CHAOSCTL_K8S_KUBECONFIG is not set (make test-k8s starts one with test/k8s/cluster.sh up)")
		}
		t.Skip("no cluster: run make test-k8s")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", path, err)
	}
	rc.QPS, rc.Burst = 200, 400
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.CoreV1().Nodes().Get(ctx, k8sNode, metav1.GetOptions{}); err != nil {
		t.Fatalf("the cluster at %s is not reachable or has no node %s: %v", path, k8sNode, err)
	}
	t.Setenv("KUBECONFIG", path)
	return c
}

// namespace creates a fresh namespace and deletes it (and waits for its
// pods to go) when the test ends.
func namespace(t testing.TB, c kubernetes.Interface, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = c.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		waitUntil(t, 60*time.Second, "namespace "+name+" deleted", func() bool {
			_, err := c.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
	})
}

// deployment creates a Deployment of the target image: replicas pods, each
// serving on 127.0.0.1:8080 in its own network namespace and ready while
// its /healthz answers (an exec probe, so nothing is sent to a pod IP).
func deployment(t testing.TB, c kubernetes.Interface, ns, name string, replicas int32) *appsv1.Deployment {
	t.Helper()
	return deploymentWith(t, c, ns, name, replicas, nil)
}

// deploymentWith is deployment, changed by edit before it is created.
func deploymentWith(t testing.TB, c kubernetes.Interface, ns, name string, replicas int32, edit func(*corev1.PodSpec)) *appsv1.Deployment {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken:  new(false),
					EnableServiceLinks:            new(false),
					TerminationGracePeriodSeconds: new(int64(2)),
					Containers: []corev1.Container{{
						Name:            "app",
						Image:           k8sTargetImage,
						ImagePullPolicy: corev1.PullNever,
						Args:            []string{"-listen", "127.0.0.1:8080"},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/app", "-check", "http://127.0.0.1:8080/healthz"}}},
							PeriodSeconds: 1, TimeoutSeconds: 1, FailureThreshold: 1,
						},
					}},
				},
			},
		},
	}
	if edit != nil {
		edit(&d.Spec.Template.Spec)
	}
	got, err := c.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment %s/%s: %v", ns, name, err)
	}
	waitReady(t, c, ns, name, replicas)
	return got
}

func waitReady(t testing.TB, c kubernetes.Interface, ns, name string, replicas int32) {
	t.Helper()
	waitUntil(t, 90*time.Second, "deployment "+ns+"/"+name+" ready", func() bool {
		d, err := c.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == replicas && d.Status.UpdatedReplicas == replicas && d.Status.Replicas == replicas
	})
}

func waitUntil(t testing.TB, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readyLog is the test's own watch of a Deployment's ready replicas: the
// ground truth the probe's measurements are compared with.
type readyLog struct {
	mu      sync.Mutex
	changes []readyChange
}

type readyChange struct {
	at    time.Time
	ready int32
}

func watchReady(t testing.TB, c kubernetes.Interface, ns, name string) *readyLog {
	t.Helper()
	l := &readyLog{}
	lw := cache.NewFilteredListWatchFromClient(c.AppsV1().RESTClient(), "deployments", ns, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
	})
	inf := cache.NewSharedIndexInformer(lw, &appsv1.Deployment{}, 0, cache.Indexers{})
	record := func(o any) {
		d := o.(*appsv1.Deployment)
		l.mu.Lock()
		defer l.mu.Unlock()
		if n := len(l.changes); n == 0 || l.changes[n-1].ready != d.Status.ReadyReplicas {
			l.changes = append(l.changes, readyChange{time.Now(), d.Status.ReadyReplicas})
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: record, UpdateFunc: func(_, n any) { record(n) }})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go inf.RunWithContext(ctx)
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	return l
}

// backTo is the first instant after from at which ready replicas reached n
// again, after having been below it.
func (l *readyLog) backTo(from time.Time, n int32) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	below := false
	for _, c := range l.changes {
		if c.at.Before(from) {
			continue
		}
		if c.ready < n {
			below = true
		} else if below {
			return c.at, true
		}
	}
	return time.Time{}, false
}

func kubeExample(name string) string { return filepath.Join("..", "scenarios", "examples", name) }

func runExample(t testing.TB, name string, extra ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := chaosctl(t, ctx, append([]string{"run", "--local", kubeExample(name)}, extra...)...)
	if r.journal == nil {
		t.Fatalf("no journal: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	return r
}

// (a) A pod of a 2-replica Deployment is deleted; its ready replicas are
// back within the objective: passed. The recovery chaosctl measured agrees
// with the test's own watch of the Deployment within one probe interval
// (100ms) + 20ms.
func TestKubernetesPodDeleteRecovers(t *testing.T) {
	c := kubeCluster(t)
	namespace(t, c, "shop")
	deployment(t, c, "shop", "checkout-api", 2)
	truth := watchReady(t, c, "shop", "checkout-api")

	r := runExample(t, "kubernetes-pod-delete.toml")
	j := r.journal
	if j.Verdict != journal.Passed || r.code != 0 {
		t.Fatalf("verdict %s (exit %d), want passed\n%s\n%s", j.Verdict, r.code, r.stdout, r.stderr)
	}
	f := j.Faults[0]
	if f.Effect != journal.EffectConfirmed || f.InjectedAt == nil {
		t.Fatalf("fault %+v: want its effect confirmed", f)
	}
	rec := j.Recovery
	if rec == nil || rec.RecoveredAt == nil {
		t.Fatalf("no recovery in the journal: %+v", rec)
	}
	// From the intent, not InjectedAt: a forced delete can show in the
	// Deployment's status before Inject's answer is recorded.
	want, ok := truth.backTo(f.IntentAt, 2)
	if !ok {
		t.Fatalf("the test's watch never saw ready replicas drop and come back: %+v", truth.changes)
	}
	if d := rec.RecoveredAt.Sub(want); d < -20*time.Millisecond || d > 120*time.Millisecond {
		t.Errorf("chaosctl measured recovery at %s, the watch saw 2 ready at %s: off by %s (allowed: one probe interval + 20ms)",
			rec.RecoveredAt.Format(time.StampMicro), want.Format(time.StampMicro), d)
	}
	t.Logf("recovered %s after the delete (chaosctl), watch %s", rec.RecoveredAt.Sub(*f.InjectedAt), want.Sub(*f.InjectedAt))
}

// (b) Scaled to 0 for 10s and then reverted: not fully ready within 5s of
// the revert -> failed. The replicas are restored after the run.
func TestKubernetesScaleToZeroFails(t *testing.T) {
	c := kubeCluster(t)
	namespace(t, c, "shop")
	deployment(t, c, "shop", "checkout-api", 2)

	r := runExample(t, "kubernetes-scale-to-zero.toml")
	j := r.journal
	if j.Verdict != journal.Failed {
		t.Fatalf("verdict %s (exit %d), want failed\n%s\n%s", j.Verdict, r.code, r.stdout, r.stderr)
	}
	f := j.Faults[0]
	if f.Effect != journal.EffectConfirmed || f.RevertedAt == nil {
		t.Fatalf("fault %+v: want confirmed and reverted", f)
	}
	d, err := c.AppsV1().Deployments("shop").Get(context.Background(), "checkout-api", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 2 {
		t.Fatalf("replicas after the run: %v %v, want 2", err, d.Spec.Replicas)
	}
}

// (c) Cordon and drain the node while a PodDisruptionBudget protects the
// ledger: its eviction is refused, the ledger stays ready, and the node is
// uncordoned after.
func TestKubernetesDrainHonoursPDB(t *testing.T) {
	c := kubeCluster(t)
	namespace(t, c, "bank")
	deployment(t, c, "bank", "ledger", 1)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "ledger", Namespace: "bank"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: new(intstr.FromInt32(1)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "ledger"}},
		},
	}
	if _, err := c.PolicyV1().PodDisruptionBudgets("bank").Create(context.Background(), pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the budget observed", func() bool {
		p, err := c.PolicyV1().PodDisruptionBudgets("bank").Get(context.Background(), "ledger", metav1.GetOptions{})
		return err == nil && p.Status.ObservedGeneration == p.Generation && p.Status.CurrentHealthy == 1
	})
	pods, _ := c.CoreV1().Pods("bank").List(context.Background(), metav1.ListOptions{})

	r := runExample(t, "kubernetes-drain-pdb.toml")
	j := r.journal
	if j.Verdict != journal.Passed {
		t.Fatalf("verdict %s (exit %d), want passed\n%s\n%s", j.Verdict, r.code, r.stdout, r.stderr)
	}
	f := j.Faults[0]
	if f.Effect != journal.EffectConfirmed || !strings.Contains(f.EffectDetail, "refused") || !strings.Contains(f.EffectDetail, "ledger") {
		t.Fatalf("fault effect %q: %q, want the budget's refusal of the ledger's eviction", f.Effect, f.EffectDetail)
	}
	after, _ := c.CoreV1().Pods("bank").List(context.Background(), metav1.ListOptions{})
	if len(pods.Items) != 1 || len(after.Items) != 1 || after.Items[0].UID != pods.Items[0].UID {
		t.Errorf("the ledger pod was evicted despite its budget: before %d pods, after %d", len(pods.Items), len(after.Items))
	}
	n, err := c.CoreV1().Nodes().Get(context.Background(), k8sNode, metav1.GetOptions{})
	if err != nil || n.Spec.Unschedulable {
		t.Fatalf("node after the run: %v, unschedulable %v", err, n.Spec.Unschedulable)
	}
}

// (d) A container's main process is killed from its node: the kubelet
// restarts it in place, restartCount + 1, and the pods are ready again.
func TestKubernetesContainerCrashRestarts(t *testing.T) {
	c := kubeCluster(t)
	namespace(t, c, "shop")
	deployment(t, c, "shop", "checkout-api", 2)
	before := restarts(t, c, "shop")

	r := runExample(t, "kubernetes-container-crash.toml")
	j := r.journal
	if j.Verdict != journal.Passed {
		t.Fatalf("verdict %s (exit %d), want passed\n%s\n%s", j.Verdict, r.code, r.stdout, r.stderr)
	}
	if f := j.Faults[0]; f.Effect != journal.EffectConfirmed {
		t.Fatalf("fault effect %q: %q", f.Effect, f.EffectDetail)
	}
	after := restarts(t, c, "shop")
	var bumped int
	for uid, n := range after {
		if b, ok := before[uid]; !ok {
			t.Errorf("pod %s is new: the crash replaced a pod instead of restarting its container", uid)
		} else if n == b+1 {
			bumped++
		} else if n != b {
			t.Errorf("pod %s restartCount %d -> %d", uid, b, n)
		}
	}
	if bumped != 1 {
		t.Errorf("pods whose restartCount went up by one: %d, want 1 (before %v, after %v)", bumped, before, after)
	}
}

// (e) An in-pod fault: the pod's in-memory emptyDir (8 MiB) is filled from
// its node until its readiness check, which writes a small file, fails.
// Ready replicas drop, the fill file is removed on revert, and the pod is
// ready again: passed.
func TestKubernetesPodVolumeFull(t *testing.T) {
	c := kubeCluster(t)
	namespace(t, c, "notes")
	deploymentWith(t, c, "notes", "notes", 1, withVolume)
	truth := watchReady(t, c, "notes", "notes")

	r := runExample(t, "kubernetes-pod-volume-full.toml")
	j := r.journal
	if j.Verdict != journal.Passed {
		t.Fatalf("verdict %s (exit %d), want passed\n%s\n%s", j.Verdict, r.code, r.stdout, r.stderr)
	}
	f := j.Faults[0]
	if f.Effect != journal.EffectConfirmed || !strings.Contains(f.EffectDetail, "fill file of") || f.RevertedAt == nil {
		t.Fatalf("fault %q %q reverted %v", f.Effect, f.EffectDetail, f.RevertedAt)
	}
	back, ok := truth.backTo(f.IntentAt, 1)
	if !ok {
		t.Fatalf("the pod never went unready and back: %+v", truth.changes)
	}
	if back.Before(*f.RevertedAt) {
		t.Errorf("ready again at %s, before the fill was removed at %s", back, f.RevertedAt)
	}
	// Nothing is left in the volume: the pod still writes.
	waitReady(t, c, "notes", "notes", 1)
}

func restarts(t testing.TB, c kubernetes.Interface, ns string) map[string]int32 {
	t.Helper()
	pods, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int32{}
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			out[string(p.UID)] += cs.RestartCount
		}
	}
	return out
}

// (f) and crash safety: chaosctl is killed with -9 while a fault holds;
// `chaosctl recover` undoes it from the ledger: replicas restored, node
// uncordoned, policy deleted, a pod's volume emptied again.
func TestKubernetesKilledMidFaultIsRecovered(t *testing.T) {
	c := kubeCluster(t)
	ctx := context.Background()
	cases := []struct {
		name, action, target, params string
		injected, reverted           func() bool
	}{
		{
			name: "fill", action: "fill",
			target:   `namespace = "shop"` + "\n" + `owner = "Deployment/checkout-api"` + "\n" + `count = 1`,
			params:   `path = "/data"`,
			injected: func() bool { return fillFiles(t) == 1 },
			reverted: func() bool { return fillFiles(t) == 0 },
		},
		{
			name: "scale", action: "scale",
			target: `namespace = "shop"` + "\n" + `kind = "deployment"` + "\n" + `name = "checkout-api"`,
			params: `replicas = 0`,
			injected: func() bool {
				d, err := c.AppsV1().Deployments("shop").Get(ctx, "checkout-api", metav1.GetOptions{})
				return err == nil && *d.Spec.Replicas == 0
			},
			reverted: func() bool {
				d, err := c.AppsV1().Deployments("shop").Get(ctx, "checkout-api", metav1.GetOptions{})
				return err == nil && *d.Spec.Replicas == 2
			},
		},
		{
			name: "cordon", action: "cordon", target: `name = "localhost"`,
			injected: func() bool {
				n, err := c.CoreV1().Nodes().Get(ctx, k8sNode, metav1.GetOptions{})
				return err == nil && n.Spec.Unschedulable
			},
			reverted: func() bool {
				n, err := c.CoreV1().Nodes().Get(ctx, k8sNode, metav1.GetOptions{})
				return err == nil && !n.Spec.Unschedulable
			},
		},
		{
			name: "network-policy", action: "network-policy", target: `namespace = "shop"` + "\n" + `labels = { app = "checkout-api" }`,
			injected: func() bool {
				l, err := c.NetworkingV1().NetworkPolicies("shop").List(ctx, metav1.ListOptions{})
				return err == nil && len(l.Items) == 1
			},
			reverted: func() bool {
				l, err := c.NetworkingV1().NetworkPolicies("shop").List(ctx, metav1.ListOptions{})
				return err == nil && len(l.Items) == 0
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			namespace(t, c, "shop")
			deploymentWith(t, c, "shop", "checkout-api", 2, withVolume)
			path := writeScenario(t, kubeFaultScenario, map[string]string{"Action": tc.action, "Target": tc.target, "Params": tc.params})
			dir := t.TempDir()
			cmd := exec.Command(bins.chaosctl, "run", "--local", path, "--journal-dir", dir)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, 30*time.Second, tc.name+" injected", tc.injected)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			time.Sleep(500 * time.Millisecond)
			if !tc.injected() {
				t.Fatal("the fault ended with the run: this test proves nothing")
			}
			r := chaosctlIn(t, "recover", "--journal-dir", dir)
			if r.code != 0 || !strings.Contains(r.stdout, "1 reverted") {
				t.Fatalf("recover: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			if !tc.reverted() {
				t.Fatal("recover said it reverted, but the cluster still has the fault")
			}
		})
	}
}

// withVolume gives the target an in-memory emptyDir of 8 MiB at /data,
// and a readiness check that fails when it cannot write there.
func withVolume(ps *corev1.PodSpec) {
	ps.Containers[0].Args = []string{"-listen", "127.0.0.1:8080", "-data", "/data/notes", "-create-data", "-health-write"}
	ps.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	size := resource.MustParse("8Mi")
	ps.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &size}}}}
}

// fillFiles counts the fill files in the pods' emptyDirs, read on the node.
func fillFiles(t testing.TB) int {
	t.Helper()
	dir := os.Getenv("CHAOSCTL_K8S_DIR") // as test/k8s/cluster.sh reads it
	if dir == "" {
		dir = "/var/lib/chaosctl-k8s"
	}
	m, err := filepath.Glob(filepath.Join(dir, "kubelet/pods/*/volumes/kubernetes.io~empty-dir/data/.chaosctl-fill-*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// kubeFaultScenario holds one kubernetes fault for 10 minutes.
const kubeFaultScenario = `version = 1
name = "kube-{{.Action}}-held"
[steady]
duration = "500ms"
[[probe]]
name = "replicas"
kind = "kubernetes"
interval = "200ms"
timeout = "1s"
namespace = "shop"
deployment = "checkout-api"
min_ready = 1
[[slo]]
name = "ready"
probe = "replicas"
availability = 1.0
window = "1s"
[[fault]]
name = "held"
plugin = "kubernetes"
action = "{{.Action}}"
duration = "10m"
[fault.target]
{{.Target}}
{{if .Params}}[fault.params]
{{.Params}}{{end}}
[recovery]
recover_within = "10s"
`

// Bad input: each is a clear error naming the field or the resource, and
// injects nothing.
func TestKubernetesBadInput(t *testing.T) {
	c := kubeCluster(t)
	namespace(t, c, "shop")
	dep := deployment(t, c, "shop", "checkout-api", 1)
	cases := []struct {
		name, action, target, params, want string
	}{
		{"missing kubeconfig", "pod-delete", `namespace = "shop"` + "\n" + `name = "checkout-api"` + "\n" + `kubeconfig = "/nonexistent/kubeconfig"`, "", "kubeconfig /nonexistent/kubeconfig"},
		{"no such namespace", "pod-delete", `namespace = "nowhere"` + "\n" + `name = "checkout-api"`, "", `namespace does not exist: "nowhere"`},
		{"selector matches nothing", "pod-delete", `namespace = "shop"` + "\n" + `labels = { app = "nothing" }`, "", "no running pods with labels app=nothing in namespace shop"},
		{"credentials refused", "pod-delete", `namespace = "shop"` + "\n" + `name = "checkout-api"` + "\n" + `kubeconfig = "` + kubeconfigWithToken(t, "bogus", "not-a-token") + `"`, "", "unauthorized: the kubeconfig's credentials were refused"},
		{"scale a daemonset", "scale", `namespace = "shop"` + "\n" + `kind = "daemonset"` + "\n" + `name = "agent"`, "replicas = 0", `fault[0].target.kind: must be one of deployment, statefulset, got "daemonset"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeScenario(t, kubeFaultScenario, map[string]string{"Action": tc.action, "Target": tc.target, "Params": tc.params})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r := chaosctl(t, ctx, "run", "--local", path)
			if r.code == 0 || !strings.Contains(r.stdout+r.stderr, tc.want) {
				t.Fatalf("exit %d, want an error saying %q\n%s\n%s", r.code, tc.want, r.stdout, r.stderr)
			}
			if r.journal != nil {
				for _, f := range r.journal.Faults {
					if f.InjectedAt != nil {
						t.Fatalf("a fault was injected: %+v", f)
					}
				}
			}
		})
	}
	// No pod was touched by any of them.
	pods, _ := c.CoreV1().Pods("shop").List(context.Background(), metav1.ListOptions{})
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			t.Errorf("pod %s deleted by a run that should have injected nothing", p.Name)
		}
	}
	_ = dep
}

// kubectl runs the cluster's own kubectl (CHAOSCTL_K8S_BIN, from
// test/k8s/cluster.sh) against it.
func kubectl(t testing.TB, args ...string) string {
	t.Helper()
	bin := filepath.Join(os.Getenv("CHAOSCTL_K8S_BIN"), "kubectl")
	if os.Getenv("CHAOSCTL_K8S_BIN") == "" {
		t.Fatal("CHAOSCTL_K8S_BIN is not set (make test-k8s sets it)")
	}
	out, err := exec.Command(bin, append([]string{"--kubeconfig", os.Getenv("CHAOSCTL_K8S_KUBECONFIG")}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// tokenKubeconfig writes a kubeconfig that authenticates as the service
// account ns/name with a fresh token.
func tokenKubeconfig(t testing.TB, c kubernetes.Interface, ns, name string) string {
	t.Helper()
	tr, err := c.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name, &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return kubeconfigWithToken(t, name, tr.Status.Token)
}

// kubeconfigWithToken writes a kubeconfig for the cluster under test that
// authenticates with token.
func kubeconfigWithToken(t testing.TB, name, token string) string {
	t.Helper()
	admin, err := clientcmd.LoadFromFile(os.Getenv("CHAOSCTL_K8S_KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	for k, v := range admin.Clusters {
		cfg.Clusters[k] = v
	}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["sa"] = &clientcmdapi.Context{Cluster: admin.Contexts[admin.CurrentContext].Cluster, AuthInfo: name}
	cfg.CurrentContext = "sa"
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// The manifests in contrib/kubernetes are accepted by a real API server,
// and the ClusterRole in rbac.yaml is enough for a run: the pod-delete
// replay passes as the chaosctl service account. A service account with
// no role gets an error naming the verb and the resource, and nothing is
// injected.
func TestKubernetesLeastPrivilegeRBAC(t *testing.T) {
	c := kubeCluster(t)
	kubectl(t, "apply", "-f", "../contrib/kubernetes/rbac.yaml")
	t.Cleanup(func() { kubectl(t, "delete", "--wait=true", "-f", "../contrib/kubernetes/rbac.yaml") })
	kubectl(t, "apply", "--dry-run=server", "-f", "../contrib/kubernetes/daemon.yaml")
	kubectl(t, "apply", "--dry-run=server", "-f", "../contrib/kubernetes/agent.yaml")
	namespace(t, c, "shop")
	deployment(t, c, "shop", "checkout-api", 2)

	r := runExample(t, "kubernetes-pod-delete.toml", "--kubeconfig", tokenKubeconfig(t, c, "chaosctl", "chaosctl"))
	if r.journal.Verdict != journal.Passed {
		t.Fatalf("as the chaosctl service account: verdict %s (exit %d)\n%s\n%s", r.journal.Verdict, r.code, r.stdout, r.stderr)
	}

	if _, err := c.CoreV1().ServiceAccounts("shop").Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReady(t, c, "shop", "checkout-api", 2)
	pods, _ := c.CoreV1().Pods("shop").List(context.Background(), metav1.ListOptions{})
	r = runExample(t, "kubernetes-pod-delete.toml", "--kubeconfig", tokenKubeconfig(t, c, "shop", "nobody"))
	want := "forbidden by RBAC: cannot list pods in namespace shop"
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, want) {
		t.Fatalf("as a service account without a role: exit %d, want %q\n%s\n%s", r.code, want, r.stdout, r.stderr)
	}
	after, _ := c.CoreV1().Pods("shop").List(context.Background(), metav1.ListOptions{})
	for i := range after.Items {
		if after.Items[i].DeletionTimestamp != nil || len(after.Items) != len(pods.Items) {
			t.Fatalf("a pod was touched by a run RBAC forbids")
		}
	}
}
