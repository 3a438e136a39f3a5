package kube

import (
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Sentinel errors, tested with errors.Is.
var (
	// ErrForbidden: RBAC denies the verb on the resource.
	ErrForbidden = errors.New("forbidden by RBAC")
	// ErrNoNamespace: the namespace does not exist.
	ErrNoNamespace = errors.New("namespace does not exist")
	// ErrUnsupported: the action has no meaning for that kind of object
	// (scaling a DaemonSet).
	ErrUnsupported = errors.New("not supported for this kind")
)

// Explain turns an API error for verb on resource (in namespace ns, ""
// for cluster-scoped) into one that says what was refused: RBAC names the
// verb and the resource; an unreachable server says so.
func Explain(err error, verb, resource, ns string) error {
	if err == nil {
		return nil
	}
	where := resource
	if ns != "" {
		where = resource + " in namespace " + ns
	}
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w: cannot %s %s: %w", ErrForbidden, verb, where, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("unauthorized: the kubeconfig's credentials were refused (%s %s): %w", verb, where, err)
	}
	return fmt.Errorf("%s %s: %w", verb, where, err)
}
