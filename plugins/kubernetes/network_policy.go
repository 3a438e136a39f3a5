package kubernetes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/chaosctl/chaosctl/internal/kube"
	"github.com/chaosctl/chaosctl/plugins"
	"github.com/rs/zerolog"
)

// network-policy isolates the selected pods behind a NetworkPolicy of
// ours for the fault's duration, deleted on revert. A NetworkPolicy only
// takes effect where the cluster's CNI enforces policies: Status reports
// the object, never a guess about the traffic.

// LabelManaged marks the objects chaosctl creates.
const LabelManaged = "chaosctl.io/managed"

type policyData struct {
	Name     string            `json:"name"`
	UID      types.UID         `json:"uid,omitempty"`
	Selector map[string]string `json:"selector"`
}

var networkPolicyAction = &action{
	Action: plugins.Action{
		Name: "network-policy",
		Doc: "isolate the pods the target's labels select with a deny NetworkPolicy for the fault's duration, deleted on revert; " +
			"it takes effect only with a CNI that enforces NetworkPolicy",
		Reversible: true,
		Params: []plugins.Param{
			{Name: "direction", Type: plugins.TypeString, Default: "both", Enum: []string{"both", "ingress", "egress"}, Doc: "traffic to deny"},
			{Name: "deny_from", Type: plugins.TypeTable, Doc: "deny ingress only from pods with these labels (any namespace); other pods stay allowed, traffic from outside the cluster is denied"},
			{Name: "deny_to", Type: plugins.TypeTable, Doc: "deny egress only to pods with these labels (any namespace); other pods stay allowed, traffic leaving the cluster is denied"},
		},
	},
	kinds: []string{kube.KindPod},
	validate: func(params plugins.Params) []error {
		var errs []error
		if d, ok := params["direction"]; ok {
			if s, _ := d.(string); s != "both" && s != "ingress" && s != "egress" {
				errs = append(errs, &plugins.ValidationError{Field: "params.direction", Msg: fmt.Sprintf("want both, ingress or egress, got %v", d)})
			}
		}
		for _, k := range []string{"deny_from", "deny_to"} {
			if _, err := labelTable(params, k); err != nil {
				errs = append(errs, err)
			}
		}
		return errs
	},
	targets: func(ctx context.Context, c k8s.Interface, s kube.Selector, _ plugins.Params) ([]plugins.Target, error) {
		sel, err := policySelector(s)
		if err != nil {
			return nil, err
		}
		pods, err := kube.Pods(ctx, c, s, nil)
		if err != nil {
			return nil, err
		}
		names := make([]string, len(pods))
		for i, p := range pods {
			names[i] = p.Name
		}
		t := target(s, "pods", s.Namespace, labels.Set(sel).String(), "", map[string]string{"pods": strings.Join(names, ",")})
		t.Name = fmt.Sprintf("%s/%s (%s)", s.Namespace, labels.Set(sel).String(), strings.Join(names, ", "))
		return []plugins.Target{t}, nil
	},
	prepare: func(ctx context.Context, c k8s.Interface, t plugins.Target, _ plugins.Params, rd *revertData) error {
		sel, err := labels.ConvertSelectorToLabelsMap(rd.Name)
		if err != nil {
			return fmt.Errorf("target %s: %w", t.ID, err)
		}
		var b [4]byte
		_, _ = rand.Read(b[:])
		rd.Policy = &policyData{Name: "chaosctl-deny-" + hex.EncodeToString(b[:]), Selector: sel}
		return nil
	},
	inject: func(ctx context.Context, c k8s.Interface, _ plugins.Target, params plugins.Params, rd *revertData) error {
		np, err := policy(rd, params)
		if err != nil {
			return err
		}
		got, err := c.NetworkingV1().NetworkPolicies(rd.Namespace).Create(ctx, np, metav1.CreateOptions{})
		if err != nil {
			return kube.Explain(err, "create", "networkpolicies", rd.Namespace)
		}
		rd.Policy.UID = got.UID
		return nil
	},
	revert: func(ctx context.Context, c k8s.Interface, rd revertData, _ zerolog.Logger) error {
		if rd.Policy == nil {
			return nil
		}
		np, err := c.NetworkingV1().NetworkPolicies(rd.Namespace).Get(ctx, rd.Policy.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return kube.Explain(err, "get", "networkpolicies", rd.Namespace)
		}
		if np.Labels[LabelManaged] != "true" || (rd.Policy.UID != "" && np.UID != rd.Policy.UID) {
			return nil // not ours
		}
		uid := np.UID
		err = c.NetworkingV1().NetworkPolicies(rd.Namespace).Delete(ctx, rd.Policy.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return kube.Explain(err, "delete", "networkpolicies", rd.Namespace)
	},
	status: func(ctx context.Context, c k8s.Interface, rd revertData) (plugins.Status, error) {
		if rd.Policy == nil {
			return plugins.Status{}, fmt.Errorf("revert data names no policy")
		}
		np, err := c.NetworkingV1().NetworkPolicies(rd.Namespace).Get(ctx, rd.Policy.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return plugins.Status{Detail: "NetworkPolicy " + rd.Namespace + "/" + rd.Policy.Name + " does not exist"}, nil
		}
		if err != nil {
			return plugins.Status{}, kube.Explain(err, "get", "networkpolicies", rd.Namespace)
		}
		if rd.Policy.UID != "" && np.UID != rd.Policy.UID {
			return plugins.Status{Detail: "NetworkPolicy " + np.Name + " is another object (uid " + string(np.UID) + ")"}, nil
		}
		return plugins.Status{Active: true, Detail: fmt.Sprintf("NetworkPolicy %s/%s exists, selecting pods %s, policy types %v (enforced only by a CNI that implements NetworkPolicy)",
			np.Namespace, np.Name, metav1.FormatLabelSelector(&np.Spec.PodSelector), np.Spec.PolicyTypes)}, nil
	},
}

// policySelector is the pod selector of the policy: the target's labels,
// which must be plain equalities (a NetworkPolicy selects by labels).
func policySelector(s kube.Selector) (map[string]string, error) {
	reqs, _ := s.Labels.Requirements()
	if len(reqs) == 0 {
		return nil, &plugins.ValidationError{Field: "target.labels", Msg: "network-policy selects pods by labels: give target.labels"}
	}
	out := map[string]string{}
	for _, r := range reqs {
		v := r.Values().List()
		if (r.Operator() != "=" && r.Operator() != "==") || len(v) != 1 {
			return nil, &plugins.ValidationError{Field: "target.label_selector", Msg: "network-policy takes label equalities only (target.labels)"}
		}
		out[r.Key()] = v[0]
	}
	return out, nil
}

func labelTable(params plugins.Params, key string) (map[string]string, error) {
	v, ok := params[key]
	if !ok {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, &plugins.ValidationError{Field: "params." + key, Msg: "want a non-empty table of labels"}
	}
	out := map[string]string{}
	for k, x := range m {
		s, ok := x.(string)
		if !ok {
			return nil, &plugins.ValidationError{Field: "params." + key + "." + k, Msg: "want a string"}
		}
		out[k] = s
	}
	return out, nil
}

// policy builds the NetworkPolicy: policy types by direction, and no
// rule (deny all) or a rule allowing every pod but the denied ones.
func policy(rd *revertData, params plugins.Params) (*networkingv1.NetworkPolicy, error) {
	dir, _ := params["direction"].(string)
	if dir == "" {
		dir = "both"
	}
	from, err := labelTable(params, "deny_from")
	if err != nil {
		return nil, err
	}
	to, err := labelTable(params, "deny_to")
	if err != nil {
		return nil, err
	}
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: rd.Policy.Name, Namespace: rd.Namespace, Labels: map[string]string{LabelManaged: "true"}},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{
			MatchLabels: rd.Policy.Selector,
			// Pods labelled chaosctl.skip=true are never targets.
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: kube.LabelSkip, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"true"}}},
		}},
	}
	if dir == "both" || dir == "ingress" || from != nil {
		np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
		if from != nil {
			np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: allBut(from)}}
		}
	}
	if dir == "both" || dir == "egress" || to != nil {
		np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		if to != nil {
			np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{To: allBut(to)}}
		}
	}
	return np, nil
}

// allBut is the peers "every pod in every namespace that lacks one of
// these labels": one peer per key, with NotIn, the peers being ORed.
func allBut(deny map[string]string) []networkingv1.NetworkPolicyPeer {
	keys := make([]string, 0, len(deny))
	for k := range deny {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []networkingv1.NetworkPolicyPeer
	for _, k := range keys {
		out = append(out, networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{},
			PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: k, Operator: metav1.LabelSelectorOpNotIn, Values: []string{deny[k]}},
			}},
		})
	}
	return out
}
