package kubernetes

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/chaosctl/chaosctl/internal/kube"
	"github.com/chaosctl/chaosctl/plugins"
)

// pod-delete deletes pods: instantaneous, so the owner controller must
// bring service back.

var podDeleteAction = &action{
	Action: plugins.Action{
		Name: "pod-delete",
		Doc:  "delete pods (the owner controller must bring service back); nothing to revert",
		Params: []plugins.Param{
			gracePeriodParam,
			{Name: "force", Type: plugins.TypeBool, Default: false, Doc: "delete at once, with a grace period of 0"},
		},
	},
	kinds:    []string{kube.KindPod},
	validate: validateGrace,
	inject: func(ctx context.Context, c k8s.Interface, t plugins.Target, params plugins.Params, rd *revertData) error {
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &rd.UID}}
		if g, ok, err := grace(params); err != nil {
			return err
		} else if ok {
			opts.GracePeriodSeconds = &g
		}
		err := c.CoreV1().Pods(rd.Namespace).Delete(ctx, rd.Name, opts)
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return fmt.Errorf("pod %s/%s is already gone or was replaced", rd.Namespace, rd.Name)
		}
		return kube.Explain(err, "delete", "pods", rd.Namespace)
	},
	status: podGoneStatus,
}

// podGoneStatus: the pod the fault hit is terminating or gone (its
// controller may have made a new one under the same name).
func podGoneStatus(ctx context.Context, c k8s.Interface, rd revertData) (plugins.Status, error) {
	p, err := c.CoreV1().Pods(rd.Namespace).Get(ctx, rd.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return plugins.Status{Active: true, Detail: "pod gone"}, nil
	case err != nil:
		return plugins.Status{}, kube.Explain(err, "get", "pods", rd.Namespace)
	case p.UID != rd.UID:
		return plugins.Status{Active: true, Detail: fmt.Sprintf("pod gone; a new pod of that name (uid %s) replaced it", p.UID)}, nil
	case p.DeletionTimestamp != nil:
		return plugins.Status{Active: true, Detail: "pod terminating since " + p.DeletionTimestamp.Format(time.RFC3339)}, nil
	}
	return plugins.Status{Detail: "pod still " + string(p.Status.Phase)}, nil
}

// gracePeriodParam is the grace period of the pods an action deletes or
// evicts.
var gracePeriodParam = plugins.Param{Name: "grace_period", Type: plugins.TypeDuration, Doc: "termination grace period (default: the pod's own)"}

func validateGrace(params plugins.Params) []error {
	if _, _, err := grace(params); err != nil {
		return []error{err}
	}
	return nil
}

// grace is the grace period the parameters ask for, in seconds; ok is
// false when they leave it to the pod.
func grace(params plugins.Params) (secs int64, ok bool, err error) {
	if f, _ := params["force"].(bool); f {
		return 0, true, nil
	}
	v, has := params["grace_period"]
	if !has {
		return 0, false, nil
	}
	s, _ := v.(string)
	d, perr := time.ParseDuration(s)
	if perr != nil || d < 0 {
		return 0, false, &plugins.ValidationError{Field: "params.grace_period", Msg: fmt.Sprintf("want a duration >= 0, got %v", v)}
	}
	return int64(d / time.Second), true, nil
}
