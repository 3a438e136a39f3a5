package kubernetes

import (
	"context"
	"errors"
	"fmt"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/chaosctl/chaosctl/internal/kube"
	"github.com/chaosctl/chaosctl/plugins"
)

// pod-evict evicts pods through the Eviction API, so PodDisruptionBudgets
// are honoured: a refusal is reported as one.

// ErrEvictionRefused: the API server refused an eviction, a
// PodDisruptionBudget forbidding it.
var ErrEvictionRefused = errors.New("eviction refused")

var podEvictAction = &action{
	Action: plugins.Action{
		Name: "pod-evict",
		Doc:  "evict pods through the Eviction API, honouring PodDisruptionBudgets (a refusal is reported as such); nothing to revert",
		Params: []plugins.Param{
			gracePeriodParam,
		},
	},
	kinds:    []string{kube.KindPod},
	validate: validateGrace,
	inject: func(ctx context.Context, c k8s.Interface, t plugins.Target, params plugins.Params, rd *revertData) error {
		g, ok, err := grace(params)
		if err != nil {
			return err
		}
		return evict(ctx, c, rd.Namespace, rd.Name, rd.UID, g, ok)
	},
	status: podGoneStatus,
}

// evict asks for one pod's eviction. A PodDisruptionBudget's refusal
// (429) is ErrEvictionRefused with the server's reason.
func evict(ctx context.Context, c k8s.Interface, ns, name string, uid types.UID, graceSecs int64, withGrace bool) error {
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, DeleteOptions: &metav1.DeleteOptions{}}
	if uid != "" {
		ev.DeleteOptions.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	if withGrace {
		ev.DeleteOptions.GracePeriodSeconds = &graceSecs
	}
	err := c.PolicyV1().Evictions(ns).Evict(ctx, ev)
	switch {
	case err == nil:
		return nil
	case apierrors.IsTooManyRequests(err):
		return fmt.Errorf("%w: pod %s/%s: %s", ErrEvictionRefused, ns, name, err.Error())
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return fmt.Errorf("pod %s/%s is already gone or was replaced", ns, name)
	}
	return kube.Explain(err, "create", "pods/eviction", ns)
}
