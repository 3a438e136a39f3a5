//go:build k8s

package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/chaosctl/chaosctl/probes"
)

// BenchmarkKubernetesPodDeleteRecovery: a pod of a 2-replica Deployment
// deleted, and the time until the Deployment is fully ready again, three
// ways: as chaosctl measures it (the kubernetes probe's watch), as the
// test's own watch sees it, and the wall time of `kubectl rollout status`
// started once the watch saw the drop.
func BenchmarkKubernetesPodDeleteRecovery(b *testing.B) {
	c := kubeCluster(b)
	namespace(b, c, "shop")
	deployment(b, c, "shop", "checkout-api", 2)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		// chaosctl's measurement.
		cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		r := chaosctl(b, cctx, "run", "--local", kubeExample("kubernetes-pod-delete.toml"))
		cancel()
		if r.journal == nil || r.journal.Recovery == nil || r.journal.Recovery.RecoveredAt == nil || r.journal.Faults[0].InjectedAt == nil {
			b.Fatalf("no recovery measured: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		chaos := r.journal.Recovery.RecoveredAt.Sub(*r.journal.Faults[0].InjectedAt)
		waitReady(b, c, "shop", "checkout-api", 2)

		// kubectl rollout status, started when the drop is visible.
		truth := watchReady(b, c, "shop", "checkout-api")
		pods, err := c.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=checkout-api"})
		if err != nil || len(pods.Items) == 0 {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := c.CoreV1().Pods("shop").Delete(ctx, pods.Items[0].Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			truth.mu.Lock()
			dropped := len(truth.changes) > 0 && truth.changes[len(truth.changes)-1].ready < 2
			truth.mu.Unlock()
			if dropped || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		kc := exec.Command(filepath.Join(os.Getenv("CHAOSCTL_K8S_BIN"), "kubectl"), "--kubeconfig", os.Getenv("CHAOSCTL_K8S_KUBECONFIG"),
			"-n", "shop", "rollout", "status", "deployment/checkout-api", "--timeout", "60s")
		if out, err := kc.CombinedOutput(); err != nil {
			b.Fatalf("kubectl rollout status: %v\n%s", err, out)
		}
		kubectlWall := time.Since(t0)
		back, ok := truth.backTo(t0, 2)
		if !ok {
			b.Fatal("the watch never saw the Deployment ready again")
		}
		b.ReportMetric(float64(chaos.Milliseconds()), "chaosctl-recovery-ms")
		b.ReportMetric(float64(back.Sub(t0).Milliseconds()), "watch-recovery-ms")
		b.ReportMetric(float64(kubectlWall.Milliseconds()), "kubectl-rollout-status-ms")
		fmt.Printf("pod delete -> 2/2 ready: chaosctl measured %s; on a second delete the test's watch saw %s and `kubectl rollout status` returned after %s\n",
			chaos.Round(time.Millisecond), back.Sub(t0).Round(time.Millisecond), kubectlWall.Round(time.Millisecond))
	}
}

// BenchmarkKubernetesProbeWatching1000Pods: the CPU a kubernetes probe
// costs while it watches 1,000 pods (pending API objects bound to a node
// without a kubelet; 100 of them are relabelled every second, so the watch
// carries events), sampled at 10 Hz for 10 s.
func BenchmarkKubernetesProbeWatching1000Pods(b *testing.B) {
	c := kubeCluster(b)
	namespace(b, c, "bench")
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "chaosctl-bench-node", Labels: map[string]string{"chaosctl.skip": "true"}}}
	if _, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.CoreV1().Nodes().Delete(ctx, node.Name, metav1.DeleteOptions{}) })
	const n = 1000
	t0 := time.Now()
	sem := make(chan struct{}, 16)
	errs := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%04d", i), Labels: map[string]string{"app": "bench"}},
				Spec: corev1.PodSpec{NodeName: node.Name, AutomountServiceAccountToken: new(false),
					Containers: []corev1.Container{{Name: "c", Image: k8sTargetImage}}},
			}
			_, err := c.CoreV1().Pods("bench").Create(ctx, p, metav1.CreateOptions{})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("created %d pods in %s", n, time.Since(t0).Round(time.Millisecond))
	// No kubelet runs them: force-delete them before their namespace goes.
	b.Cleanup(func() {
		_ = c.CoreV1().Pods("bench").DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}, metav1.ListOptions{})
	})
	// Mark them running and ready, as a kubelet would, so the probe counts
	// what it watches.
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			p, err := c.CoreV1().Pods("bench").Get(ctx, fmt.Sprintf("p-%04d", i), metav1.GetOptions{})
			if err == nil {
				p.Status.Phase = corev1.PodRunning
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
				_, err = c.CoreV1().Pods("bench").UpdateStatus(ctx, p, metav1.UpdateOptions{})
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}

	churn, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { // 100 label patches a second
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-churn.Done():
				return
			case <-tick.C:
			}
			patch := fmt.Sprintf(`{"metadata":{"labels":{"gen":"%d"}}}`, i)
			_, _ = c.CoreV1().Pods("bench").Patch(churn, fmt.Sprintf("p-%04d", i%n), types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		}
	}()
	var before, after syscall.Rusage
	// The churn alone first: its own API calls are subtracted below.
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	bstart := time.Now()
	time.Sleep(5 * time.Second)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	churnPct := 100 * cpuOf(before, after).Seconds() / time.Since(bstart).Seconds()
	var spec probes.KubernetesSpec
	if err := toml.Unmarshal([]byte(`namespace = "bench"`+"\n"+`pods = { app = "bench" }`+"\n"+`min_ready = 0`), &spec); err != nil {
		b.Fatal(err)
	}
	pr, err := spec.Build("bench")
	if err != nil {
		b.Fatal(err)
	}
	defer pr.(interface{ Close() error }).Close()
	if s := pr.Probe(ctx); !s.OK || s.Value != n {
		b.Fatalf("first sample: %+v, want %d ready", s, n)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
		start := time.Now()
		samples := 0
		for time.Since(start) < 10*time.Second {
			if s := pr.Probe(ctx); s.Value != n {
				b.Fatalf("sample %+v, want value %d", s, n)
			}
			samples++
			time.Sleep(100 * time.Millisecond)
		}
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		wall := time.Since(start)
		total := 100 * cpuOf(before, after).Seconds() / wall.Seconds()
		pct := total - churnPct
		b.ReportMetric(pct, "cpu-%-of-a-core")
		fmt.Printf("kubernetes probe watching %d pods (100 updates/s), %d samples at 10 Hz in %s: %.1f%% of one core (%.1f%% in all, less %.1f%% for the test's own updates)\n",
			n, samples, wall.Round(time.Millisecond), pct, total, churnPct)
	}
	stop()
	<-done
}

func cpuOf(before, after syscall.Rusage) time.Duration {
	return time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
}
