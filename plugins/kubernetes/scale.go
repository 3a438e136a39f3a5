package kubernetes

import (
	"context"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/chaosctl/chaosctl/internal/kube"
	"github.com/chaosctl/chaosctl/plugins"
	"github.com/rs/zerolog"
)

// scale sets a Deployment's or StatefulSet's replicas for the fault's
// duration; revert restores the count recorded before, and says so when
// someone changed it meanwhile.

type scaleData struct {
	Replicas int32 `json:"replicas"` // before the fault
	Set      int32 `json:"set"`      // what the fault set
}

var scaleAction = &action{
	Action: plugins.Action{
		Name:       "scale",
		Doc:        "scale a Deployment or StatefulSet to replicas for the fault's duration; revert restores the replica count it had",
		Reversible: true,
		Params: []plugins.Param{
			{Name: "replicas", Type: plugins.TypeInt, Required: true, Min: new(0.0), Doc: "replicas during the fault"},
		},
	},
	kinds: []string{kube.KindDeployment, kube.KindStatefulSet},
	validate: func(params plugins.Params) []error {
		if n, ok := params["replicas"].(int64); !ok || n < 0 {
			return []error{&plugins.ValidationError{Field: "params.replicas", Msg: "required: an integer >= 0"}}
		}
		return nil
	},
	targets: workloadTargets,
	prepare: func(ctx context.Context, c k8s.Interface, t plugins.Target, params plugins.Params, rd *revertData) error {
		sc, err := getScale(ctx, c, rd.Kind, rd.Namespace, rd.Name)
		if err != nil {
			return err
		}
		n, _ := params["replicas"].(int64)
		rd.Scale = &scaleData{Replicas: sc.Spec.Replicas, Set: int32(n)}
		return nil
	},
	inject: func(ctx context.Context, c k8s.Interface, t plugins.Target, params plugins.Params, rd *revertData) error {
		sc, err := getScale(ctx, c, rd.Kind, rd.Namespace, rd.Name)
		if err != nil {
			return err
		}
		if err := sameUID(ctx, c, *rd); err != nil {
			return err
		}
		sc.Spec.Replicas = rd.Scale.Set
		return updateScale(ctx, c, rd.Kind, rd.Namespace, sc)
	},
	revert: func(ctx context.Context, c k8s.Interface, rd revertData, log zerolog.Logger) error {
		if rd.Scale == nil {
			return nil
		}
		if err := sameUID(ctx, c, rd); err != nil {
			log.Warn().Err(err).Msg("not restoring replicas: the object was replaced")
			return nil
		}
		sc, err := getScale(ctx, c, rd.Kind, rd.Namespace, rd.Name)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if sc.Spec.Replicas == rd.Scale.Replicas {
			return nil
		}
		if sc.Spec.Replicas != rd.Scale.Set {
			log.Warn().Int32("found", sc.Spec.Replicas).Int32("set", rd.Scale.Set).Int32("restored", rd.Scale.Replicas).
				Msg("replicas were changed by someone else during the fault; restoring the count from before it")
		}
		sc.Spec.Replicas = rd.Scale.Replicas
		return updateScale(ctx, c, rd.Kind, rd.Namespace, sc)
	},
	status: func(ctx context.Context, c k8s.Interface, rd revertData) (plugins.Status, error) {
		if err := sameUID(ctx, c, rd); err != nil {
			return plugins.Status{Detail: err.Error()}, nil
		}
		sc, err := getScale(ctx, c, rd.Kind, rd.Namespace, rd.Name)
		if err != nil {
			return plugins.Status{}, err
		}
		d := fmt.Sprintf("spec.replicas %d (before the fault %d, during it %d), %d running", sc.Spec.Replicas, rd.Scale.Replicas, rd.Scale.Set, sc.Status.Replicas)
		return plugins.Status{Active: sc.Spec.Replicas == rd.Scale.Set && rd.Scale.Set != rd.Scale.Replicas, Detail: d}, nil
	},
}

// workloadTargets lists the Deployments or StatefulSets s names.
func workloadTargets(ctx context.Context, c k8s.Interface, s kube.Selector, _ plugins.Params) ([]plugins.Target, error) {
	objs, err := kube.Workloads(ctx, c, s, nil)
	if err != nil {
		return nil, err
	}
	out := make([]plugins.Target, len(objs))
	for i, o := range objs {
		out[i] = target(s, s.Kind, o.Namespace, o.Name, o.UID, nil)
	}
	return out, nil
}

func getScale(ctx context.Context, c k8s.Interface, kind, ns, name string) (*autoscalingv1.Scale, error) {
	var sc *autoscalingv1.Scale
	var err error
	switch kind {
	case kube.KindDeployment:
		sc, err = c.AppsV1().Deployments(ns).GetScale(ctx, name, metav1.GetOptions{})
	case kube.KindStatefulSet:
		sc, err = c.AppsV1().StatefulSets(ns).GetScale(ctx, name, metav1.GetOptions{})
	default:
		return nil, fmt.Errorf("%w: cannot scale a %s", kube.ErrUnsupported, kind)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, kube.Explain(err, "get", kind+"s/scale", ns)
	}
	return sc, err
}

func updateScale(ctx context.Context, c k8s.Interface, kind, ns string, sc *autoscalingv1.Scale) error {
	var err error
	switch kind {
	case kube.KindDeployment:
		_, err = c.AppsV1().Deployments(ns).UpdateScale(ctx, sc.Name, sc, metav1.UpdateOptions{})
	case kube.KindStatefulSet:
		_, err = c.AppsV1().StatefulSets(ns).UpdateScale(ctx, sc.Name, sc, metav1.UpdateOptions{})
	}
	return kube.Explain(err, "update", kind+"s/scale", ns)
}

// sameUID fails when the workload rd names is gone or is another object
// of the same name.
func sameUID(ctx context.Context, c k8s.Interface, rd revertData) error {
	var o metav1.Object
	var err error
	switch rd.Kind {
	case kube.KindDeployment:
		o, err = kube.ObjectOf(c.AppsV1().Deployments(rd.Namespace).Get(ctx, rd.Name, metav1.GetOptions{}))
	case kube.KindStatefulSet:
		o, err = kube.ObjectOf(c.AppsV1().StatefulSets(rd.Namespace).Get(ctx, rd.Name, metav1.GetOptions{}))
	default:
		return fmt.Errorf("%w: cannot scale a %s", kube.ErrUnsupported, rd.Kind)
	}
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s is gone", rd.object())
	case err != nil:
		return kube.Explain(err, "get", rd.Kind+"s", rd.Namespace)
	case rd.UID != "" && o.GetUID() != rd.UID:
		return fmt.Errorf("%s was replaced (uid %s, the fault hit %s)", rd.object(), o.GetUID(), rd.UID)
	}
	return nil
}
