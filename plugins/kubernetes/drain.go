package kubernetes

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/chaosctl/chaosctl/internal/kube"
	"github.com/chaosctl/chaosctl/plugins"
)

// drain is cordon plus the eviction of every evictable pod on the node
// (not DaemonSet pods, not mirror pods, not protected ones), through the
// Eviction API so PodDisruptionBudgets are honoured; revert uncordons.
// What a budget refused is recorded and shown by Status.

var drainAction = &action{
	Action: plugins.Action{
		Name:       "drain",
		Doc:        "cordon nodes and evict every evictable pod on them (PodDisruptionBudgets honoured, refusals reported); revert uncordons",
		Reversible: true,
		Params: []plugins.Param{
			gracePeriodParam,
		},
	},
	kinds:    []string{kube.KindNode},
	validate: validateGrace,
	targets:  nodeTargets,
	prepare:  prepareCordon,
	inject: func(ctx context.Context, c k8s.Interface, _ plugins.Target, params plugins.Params, rd *revertData) error {
		if err := setUnschedulable(ctx, c, rd.Name, rd.UID, true); err != nil {
			return err
		}
		g, withGrace, err := grace(params)
		if err != nil {
			return err
		}
		pods, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", rd.Name).String()})
		if err != nil {
			return kube.Explain(err, "list", "pods", "")
		}
		for _, p := range pods.Items {
			if !evictable(&p) {
				continue
			}
			err := evict(ctx, c, p.Namespace, p.Name, p.UID, g, withGrace)
			switch {
			case err == nil:
				rd.Cordon.Evicted = append(rd.Cordon.Evicted, p.Namespace+"/"+p.Name)
			case errors.Is(err, ErrEvictionRefused):
				rd.Cordon.Refused = append(rd.Cordon.Refused, err.Error())
			default:
				return err
			}
		}
		return nil
	},
	revert: revertCordon,
	status: cordonStatus,
}

// evictable is what kubectl drain evicts: not a mirror pod, not a
// DaemonSet's, not finished, not protected.
func evictable(p *corev1.Pod) bool {
	if kube.Protected(&p.ObjectMeta) != "" || p.DeletionTimestamp != nil {
		return false
	}
	if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return false
	}
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	for _, o := range p.OwnerReferences {
		if o.Kind == "DaemonSet" {
			return false
		}
	}
	return true
}
