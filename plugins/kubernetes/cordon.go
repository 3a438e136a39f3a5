package kubernetes

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/chaosctl/chaosctl/internal/kube"
	"github.com/chaosctl/chaosctl/plugins"
	"github.com/rs/zerolog"
)

// cordon marks nodes unschedulable for the fault's duration; revert
// uncordons them (unless they were cordoned before the fault).

type cordonData struct {
	WasUnschedulable bool `json:"was_unschedulable"`
	// drain: what was evicted and what a PodDisruptionBudget refused.
	Evicted []string `json:"evicted,omitempty"`
	Refused []string `json:"refused,omitempty"`
}

var cordonAction = &action{
	Action: plugins.Action{
		Name:       "cordon",
		Doc:        "mark nodes unschedulable for the fault's duration; revert uncordons them",
		Reversible: true,
	},
	kinds:   []string{kube.KindNode},
	targets: nodeTargets,
	prepare: prepareCordon,
	inject: func(ctx context.Context, c k8s.Interface, _ plugins.Target, _ plugins.Params, rd *revertData) error {
		return setUnschedulable(ctx, c, rd.Name, rd.UID, true)
	},
	revert: revertCordon,
	status: cordonStatus,
}

func nodeTargets(ctx context.Context, c k8s.Interface, s kube.Selector, _ plugins.Params) ([]plugins.Target, error) {
	nodes, err := kube.Nodes(ctx, c, s, nil)
	if err != nil {
		return nil, err
	}
	out := make([]plugins.Target, len(nodes))
	for i, n := range nodes {
		out[i] = target(s, kube.KindNode, "", n.Name, n.UID, nil)
	}
	return out, nil
}

func prepareCordon(ctx context.Context, c k8s.Interface, _ plugins.Target, _ plugins.Params, rd *revertData) error {
	n, err := getNode(ctx, c, rd.Name, rd.UID)
	if err != nil {
		return err
	}
	rd.Cordon = &cordonData{WasUnschedulable: n.Spec.Unschedulable}
	return nil
}

func revertCordon(ctx context.Context, c k8s.Interface, rd revertData, log zerolog.Logger) error {
	if rd.Cordon == nil || rd.Cordon.WasUnschedulable {
		return nil // it was cordoned before the fault: leave it so
	}
	err := setUnschedulable(ctx, c, rd.Name, rd.UID, false)
	if errorsIsGone(err) {
		log.Warn().Err(err).Msg("not uncordoning: the node is gone or was replaced")
		return nil
	}
	return err
}

func cordonStatus(ctx context.Context, c k8s.Interface, rd revertData) (plugins.Status, error) {
	n, err := getNode(ctx, c, rd.Name, rd.UID)
	if errorsIsGone(err) {
		return plugins.Status{Detail: err.Error()}, nil
	}
	if err != nil {
		return plugins.Status{}, err
	}
	d := "node schedulable"
	if n.Spec.Unschedulable {
		d = "node cordoned (spec.unschedulable)"
	}
	if rd.Cordon != nil && (len(rd.Cordon.Evicted) > 0 || len(rd.Cordon.Refused) > 0) {
		d += fmt.Sprintf("; drain evicted %d pod(s), %d refused", len(rd.Cordon.Evicted), len(rd.Cordon.Refused))
		for _, r := range rd.Cordon.Refused {
			d += "; " + r
		}
	}
	// A node cordoned before the fault stays so after revert: the fault's
	// own effect is then not observable, and revert leaves it.
	active := n.Spec.Unschedulable && (rd.Cordon == nil || !rd.Cordon.WasUnschedulable)
	return plugins.Status{Active: active, Detail: d}, nil
}

// errGone: the node is gone or is another node of the same name.
type errGone struct{ msg string }

func (e errGone) Error() string { return e.msg }

func errorsIsGone(err error) bool { return errors.As(err, new(errGone)) }

func getNode(ctx context.Context, c k8s.Interface, name string, uid types.UID) (*corev1.Node, error) {
	n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, errGone{"node " + name + " is gone"}
	case err != nil:
		return nil, kube.Explain(err, "get", "nodes", "")
	case uid != "" && n.UID != uid:
		return nil, errGone{fmt.Sprintf("node %s was replaced (uid %s, the fault hit %s)", name, n.UID, uid)}
	}
	return n, nil
}

// setUnschedulable patches spec.unschedulable on the node, with the UID
// as a precondition of the patch.
func setUnschedulable(ctx context.Context, c k8s.Interface, name string, uid types.UID, on bool) error {
	if _, err := getNode(ctx, c, name, uid); err != nil {
		return err
	}
	patch := fmt.Sprintf(`{"metadata":{"uid":%q},"spec":{"unschedulable":%t}}`, uid, on)
	if uid == "" {
		patch = fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, on)
	}
	_, err := c.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if apierrors.IsConflict(err) {
		return errGone{"node " + name + " was replaced"}
	}
	return kube.Explain(err, "patch", "nodes", "")
}
