package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaosctl/chaosctl/internal/kube"
	"github.com/chaosctl/chaosctl/plugins"
)

// These are unit tests of the plugin's own logic over client-go's fake
// clientset; the proof that the faults work is the Kubernetes suite in
// test/ (make test-k8s), against a real cluster.

func onFake(c k8s.Interface) *Fault {
	return &Fault{connect: func(context.Context, kube.Config) (k8s.Interface, error) { return c, nil }, dial: dialAgent, log: zerolog.Nop()}
}

func deploymentObj(name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: "uid-d-1"},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
	}
}

// fakeScale makes the fake clientset serve the scale subresource from
// the Deployment's spec, as the API server does.
func fakeScale(c *fake.Clientset) {
	c.PrependReactor("get", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "scale" {
			return false, nil, nil
		}
		name := a.(k8stesting.GetAction).GetName()
		o, err := c.Tracker().Get(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, a.GetNamespace(), name)
		if err != nil {
			return true, nil, err
		}
		d := o.(*appsv1.Deployment)
		sc := &autoscalingScale{}
		return true, sc.from(d), nil
	})
	c.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "scale" {
			return false, nil, nil
		}
		sc := a.(k8stesting.UpdateAction).GetObject()
		n, name := scaleReplicas(sc)
		gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
		o, err := c.Tracker().Get(gvr, a.GetNamespace(), name)
		if err != nil {
			return true, nil, err
		}
		d := o.(*appsv1.Deployment).DeepCopy()
		d.Spec.Replicas = &n
		return true, sc, c.Tracker().Update(gvr, d, a.GetNamespace())
	})
}

func TestScaleRevertRestoresRecordedReplicas(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		meddle   int32 // replicas someone sets during the fault; -1: nobody
		replace  bool  // the Deployment is deleted and created again
		wantLast int32
	}{
		{"plain", -1, false, 3},
		{"changed meanwhile", 5, false, 3},
		{"replaced", -1, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, deploymentObj("web", 3))
			fakeScale(c)
			f := onFake(c)
			tg, err := f.Targets(ctx, "scale", nil, plugins.Params{"namespace": "shop", "kind": "deployment", "name": "web"})
			if err != nil || len(tg) != 1 {
				t.Fatalf("targets %v %v", tg, err)
			}
			req := plugins.InjectRequest{Action: "scale", Params: plugins.Params{"replicas": int64(0)}, Target: tg[0]}
			prep, err := f.Prepare(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			req.Prepared = prep
			rd, err := f.Inject(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if st, _ := f.Status(ctx, "scale", rd); !st.Active {
				t.Fatalf("status after inject: %+v", st)
			}
			if tc.meddle >= 0 {
				d, _ := c.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
				d.Spec.Replicas = &tc.meddle
				_, _ = c.AppsV1().Deployments("shop").Update(ctx, d, metav1.UpdateOptions{})
			}
			if tc.replace {
				_ = c.AppsV1().Deployments("shop").Delete(ctx, "web", metav1.DeleteOptions{})
				other := deploymentObj("web", 0)
				other.UID = "another"
				_, _ = c.AppsV1().Deployments("shop").Create(ctx, other, metav1.CreateOptions{})
			}
			if err := f.Revert(ctx, "scale", rd); err != nil {
				t.Fatal(err)
			}
			d, _ := c.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
			if *d.Spec.Replicas != tc.wantLast {
				t.Fatalf("replicas after revert %d, want %d", *d.Spec.Replicas, tc.wantLast)
			}
			if st, _ := f.Status(ctx, "scale", rd); st.Active {
				t.Fatalf("status after revert: %+v", st)
			}
		})
	}
}

func TestEvictRefusedByBudget(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bank"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "bank", Name: "ledger-0", UID: "u1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "eviction" {
			return false, nil, nil
		}
		return true, nil, apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
	})
	f := onFake(c)
	tg, err := f.Targets(ctx, "pod-evict", nil, plugins.Params{"namespace": "bank", "name": "ledger-0"})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := f.Inject(ctx, plugins.InjectRequest{Action: "pod-evict", Target: tg[0]})
	if !errors.Is(err, ErrEvictionRefused) || rd != nil || !strings.Contains(err.Error(), "disruption budget") {
		t.Fatalf("inject: %v (revert data %s), want the budget's refusal and nothing to revert", err, rd)
	}
	_ = policyv1.Eviction{}
}

func TestForbiddenNamesVerbAndResource(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
	c.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New(`User "system:serviceaccount:shop:nobody" cannot list resource "pods"`))
	})
	_, err := onFake(c).Targets(ctx, "pod-delete", nil, plugins.Params{"namespace": "shop", "name": "x"})
	if !errors.Is(err, kube.ErrForbidden) || !strings.Contains(err.Error(), "cannot list pods in namespace shop") {
		t.Fatalf("err %v", err)
	}
}

func TestNetworkPolicyIsOursAndDeletedByUID(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-0", Labels: map[string]string{"app": "web"}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	f := onFake(c)
	tg, err := f.Targets(ctx, "network-policy", nil, plugins.Params{"namespace": "shop", "labels": map[string]any{"app": "web"}})
	if err != nil || len(tg) != 1 || !strings.Contains(tg[0].Name, "web-0") {
		t.Fatalf("targets %+v %v", tg, err)
	}
	req := plugins.InjectRequest{Action: "network-policy", Params: plugins.Params{"deny_from": map[string]any{"app": "attacker"}}, Target: tg[0]}
	req.Prepared, _ = f.Prepare(ctx, req)
	rd, err := f.Inject(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var d revertData
	_ = json.Unmarshal(rd, &d)
	np, err := c.NetworkingV1().NetworkPolicies("shop").Get(ctx, d.Policy.Name, metav1.GetOptions{})
	if err != nil || np.Labels[LabelManaged] != "true" || np.Spec.PodSelector.MatchLabels["app"] != "web" || len(np.Spec.Ingress) != 1 {
		t.Fatalf("policy %+v %v", np, err)
	}
	if st, _ := f.Status(ctx, "network-policy", rd); !st.Active || !strings.Contains(st.Detail, "CNI") {
		t.Fatalf("status %+v", st)
	}
	if err := f.Revert(ctx, "network-policy", rd); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.Status(ctx, "network-policy", rd); st.Active {
		t.Fatalf("status after revert %+v", st)
	}
	// Reverting again, or a prepared policy never created, is not an error.
	if err := f.Revert(ctx, "network-policy", rd); err != nil {
		t.Fatal(err)
	}
	if err := f.Revert(ctx, "network-policy", req.Prepared); err != nil {
		t.Fatal(err)
	}
}

type autoscalingScale struct{}

func (autoscalingScale) from(d *appsv1.Deployment) runtime.Object {
	return &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: d.Namespace}, Spec: autoscalingv1.ScaleSpec{Replicas: *d.Spec.Replicas}, Status: autoscalingv1.ScaleStatus{Replicas: *d.Spec.Replicas}}
}

func scaleReplicas(o runtime.Object) (int32, string) {
	sc := o.(*autoscalingv1.Scale)
	return sc.Spec.Replicas, sc.Name
}

func TestInPodFaultOnHostNetworkPodNeedsAllowNodeWide(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge-0", Labels: map[string]string{"app": "edge"}},
			Spec: corev1.PodSpec{HostNetwork: true, NodeName: "node-1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	f := onFake(c)
	sel := plugins.Params{"namespace": "shop", "labels": map[string]any{"app": "edge"}}
	_, err := f.Targets(ctx, "fill", plugins.Params{"path": "/data"}, sel)
	var ve *plugins.ValidationError
	if !errors.As(err, &ve) || ve.Field != "params.allow_node_wide" || !strings.Contains(err.Error(), "hostNetwork") || !strings.Contains(err.Error(), "node-1") {
		t.Fatalf("err %v, want a refusal naming hostNetwork and the node", err)
	}
	tg, err := f.Targets(ctx, "fill", plugins.Params{"path": "/data", "allow_node_wide": true}, sel)
	if err != nil || len(tg) != 1 || !strings.Contains(tg[0].Name, "node-wide: hostNetwork") {
		t.Fatalf("targets %+v %v, want the pod marked node-wide", tg, err)
	}
}
