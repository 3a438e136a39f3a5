package kube

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosctl/chaosctl/plugins"
)

func TestParseSelectorErrors(t *testing.T) {
	cases := []struct {
		name  string
		sel   plugins.Params
		kinds []string
		want  string // "" for valid
	}{
		{"labels", plugins.Params{"labels": map[string]any{"app": "web"}}, []string{KindPod}, ""},
		{"owner", plugins.Params{"owner": "Deployment/web"}, []string{KindPod}, ""},
		{"nothing named", plugins.Params{"namespace": "shop"}, []string{KindPod}, "target: name a target"},
		{"kube-system", plugins.Params{"namespace": "kube-system", "name": "x"}, []string{KindPod}, "target.namespace: kube-system is never a target"},
		{"bad owner", plugins.Params{"owner": "Service/web"}, []string{KindPod}, "target.owner: want KIND/NAME"},
		{"bad label selector", plugins.Params{"label_selector": "a=b=c"}, []string{KindPod}, "target.label_selector:"},
		{"daemonset not scalable", plugins.Params{"kind": "daemonset", "name": "x"}, []string{KindDeployment, KindStatefulSet}, `target.kind: not supported for this kind: this action takes deployment or statefulset, not "daemonset"`},
		{"node has no namespace", plugins.Params{"namespace": "x", "name": "n"}, []string{KindNode}, "target.namespace: nodes have no namespace"},
		{"count and percent", plugins.Params{"name": "x", "count": int64(1), "percent": 50.0}, []string{KindPod}, "give at most one of count, percent, all"},
		{"bad count", plugins.Params{"name": "x", "count": int64(0)}, []string{KindPod}, "target.count: must be an integer >= 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := ParseSelector(tc.sel, tc.kinds...)
			err := errors.Join(errs...)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func pod(ns, name string, labels map[string]string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, UID: types.UID("uid-" + name)}, Status: corev1.PodStatus{Phase: phase}}
}

func TestPodsProtectsAndChooses(t *testing.T) {
	c := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		pod("shop", "web-c", map[string]string{"app": "web"}, corev1.PodRunning),
		pod("shop", "web-a", map[string]string{"app": "web"}, corev1.PodRunning),
		pod("shop", "web-b", map[string]string{"app": "web", LabelSkip: "true"}, corev1.PodRunning),
		pod("shop", "web-d", map[string]string{"app": "web"}, corev1.PodPending),
		pod("shop", "db-0", map[string]string{"app": "db"}, corev1.PodRunning),
	)
	ctx := context.Background()
	s, errs := ParseSelector(plugins.Params{"namespace": "shop", "labels": map[string]any{"app": "web"}}, KindPod)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got, err := Pods(ctx, c, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if names := podNames(got); names != "web-a,web-c" {
		t.Fatalf("pods %s, want web-a,web-c (skip-labelled and pending pods left out, by name)", names)
	}
	s.Count = 1
	if got, _ := Pods(ctx, c, s, nil); podNames(got) != "web-a" {
		t.Fatalf("count 1: %s", podNames(got))
	}
	s.Random = true
	seen := map[string]bool{}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		got, _ := Pods(ctx, c, s, rng)
		seen[podNames(got)] = true
	}
	if len(seen) != 2 {
		t.Fatalf("random count 1 over 20 draws picked %v, want both pods", seen)
	}

	s2, _ := ParseSelector(plugins.Params{"namespace": "shop", "labels": map[string]any{"app": "none"}}, KindPod)
	if _, err := Pods(ctx, c, s2, nil); !errors.Is(err, plugins.ErrNoTargets) || !strings.Contains(err.Error(), "labels app=none in namespace shop") {
		t.Fatalf("no match: %v", err)
	}
	s3, _ := ParseSelector(plugins.Params{"namespace": "nowhere", "name": "x"}, KindPod)
	if _, err := Pods(ctx, c, s3, nil); !errors.Is(err, ErrNoNamespace) {
		t.Fatalf("missing namespace: %v", err)
	}
}

func podNames(ps []corev1.Pod) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return strings.Join(out, ",")
}
