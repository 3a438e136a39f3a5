package probes

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosctl/chaosctl/internal/kube"
)

// Unit tests of the probe's own arithmetic over client-go's fake
// clientset; the proof against a real cluster is in test/ (make test-k8s).

func fakeProber(t *testing.T, spec KubernetesSpec, c kubernetes.Interface) *kubeProber {
	t.Helper()
	// The fake clientset does not stream a watch list's initial events:
	// list, then watch, as against an older server.
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	pr, err := spec.Build("k")
	if err != nil {
		t.Fatal(err)
	}
	p := pr.(*kubeProber)
	p.connect = func(context.Context, kube.Config) (kubernetes.Interface, error) { return c, nil }
	t.Cleanup(func() { p.Close() })
	return p
}

func dep(replicas, ready int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
		Status:     appsv1.DeploymentStatus{ReadyReplicas: ready},
	}
}

func TestKubernetesProbeReadyReplicas(t *testing.T) {
	cases := []struct {
		name           string
		replicas, read int32
		min            *int
		ok             bool
		err            string
	}{
		{"all ready", 2, 2, nil, true, ""},
		{"one short of the spec", 2, 1, nil, false, "1 ready, want 2"},
		{"scaled to zero is never ok by default", 0, 0, nil, false, "0 ready, want 1"},
		{"min_ready below the spec", 3, 1, new(1), true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientset(dep(tc.replicas, tc.read))
			p := fakeProber(t, KubernetesSpec{Namespace: "shop", Deployment: "web", MinReady: tc.min}, c)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s := p.Probe(ctx)
			if s.OK != tc.ok || s.Value != float64(tc.read) || !strings.Contains(s.Err, tc.err) {
				t.Fatalf("sample %+v, want ok %v value %d error %q", s, tc.ok, tc.read, tc.err)
			}
		})
	}
}

func TestKubernetesProbeWatchEmitsChanges(t *testing.T) {
	c := fake.NewClientset(
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "a", Labels: map[string]string{"app": "web"}},
			Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "other", Labels: map[string]string{"app": "db"}},
			Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}},
	)
	p := fakeProber(t, KubernetesSpec{Pods: map[string]string{"app": "web"}}, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if s := p.Probe(ctx); !s.OK || s.Value != 1 {
		t.Fatalf("first sample %+v", s)
	}
	got := make(chan Sample, 16)
	go func() { _ = p.Watch(ctx, func(s Sample) { got <- s }) }()
	// The pod goes unready: the watch says so without waiting for a Probe.
	pod, _ := c.CoreV1().Pods("default").Get(ctx, "a", metav1.GetOptions{})
	pod.Status.Conditions[0].Status = corev1.ConditionFalse
	if _, err := c.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case s := <-got:
			if s.OK {
				continue // the watch's view before the update
			}
			if s.Value != 0 || !strings.Contains(s.Err, "0 ready, want 1") {
				t.Fatalf("watch sample %+v", s)
			}
			return
		case <-ctx.Done():
			t.Fatal("the watch emitted no sample for the pod going unready")
		}
	}
}
