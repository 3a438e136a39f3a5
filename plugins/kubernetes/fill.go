package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/rs/zerolog"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/internal/kube"
	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/plugins/fill"
)

// fill writes one file into a directory of a pod's container (an
// emptyDir's mount point, say) for the fault's duration, and removes it on
// revert: disk pressure inside the pod, reached from its node through the
// container runtime, as container-crash is: by the node agent there (the
// docker plugin's fill), else by chaosctl itself on that node. It refuses
// a directory on the filesystem of / or of chaosctl's own directories
// unless allow_own_filesystem = true: a default emptyDir lives on the
// node's disk, so fill a sized volume (an emptyDir with medium Memory and
// a sizeLimit) or say so. The mechanics are fill's ContainerFile, shared
// with the docker plugin.

// fillData is the revert data of a fill done here: the pod's container,
// and the file (whose pod_uid and pod_container a version before them did
// not record: see fillFile).
type fillData struct {
	Container   string `json:"container"`    // the pod's container, by name
	ContainerID string `json:"container_id"` // its Docker id when the fill was prepared
	fill.ContainerFile
}

// fillInPod: the node agent's docker fill.
var fillInPod = &inPod{
	plugin: "docker", action: "fill", selectorKey: "name",
	params: sameNames(fill.ContainerParams()),
	local:  true,
}

// sameNames are parameters the agent's plugin takes by the same names.
func sameNames(ps []plugins.Param) []nodeParam {
	out := make([]nodeParam, len(ps))
	for i, p := range ps {
		out[i] = nodeParam{Param: p, to: p.Name}
	}
	return out
}

var fillAction = &action{
	Action: plugins.Action{
		Name: "fill",
		Doc: "fill a directory of a pod's container (e.g. an emptyDir's mount point) with one file for the fault's duration, removed on revert; " +
			"done by the node agent on the pod's node, else by chaosctl itself when it runs there with the node's Docker Engine",
		Reversible: true,
		Params:     fillInPod.schema(allowNodeWideParam),
	},
	kinds:    []string{kube.KindPod},
	targets:  inPodTargets,
	node:     fillInPod,
	validate: fill.ValidateContainer,
	prepare: func(ctx context.Context, c k8s.Interface, _ plugins.Target, params plugins.Params, rd *revertData) error {
		e, ct, cs, err := targetContainer(ctx, c, rd, params)
		if err != nil {
			return err
		}
		defer e.Close()
		cpath, _ := params["path"].(string)
		fd, err := fill.PrepareContainer(ct, cpath)
		if err != nil {
			return err
		}
		rd.Fill = &fillData{Container: cs.Name, ContainerID: ct.ID, ContainerFile: *fd}
		return nil
	},
	inject: func(ctx context.Context, _ k8s.Interface, _ plugins.Target, params plugins.Params, rd *revertData) error {
		return injectFill(ctx, dockerengine.Connect, rd, params)
	},
	revert: func(ctx context.Context, c k8s.Interface, rd revertData, log zerolog.Logger) error {
		return revertFill(ctx, c, dockerengine.Connect, rd, log)
	},
	status: func(ctx context.Context, c k8s.Interface, rd revertData) (plugins.Status, error) {
		return statusFill(ctx, c, dockerengine.Connect, rd)
	},
}

// connectFunc opens this machine's Docker Engine (dockerengine.Connect;
// a fake in tests).
type connectFunc func(context.Context) (dockerengine.Engine, error)

// injectFill writes the prepared fill file, through the container as the
// Engine shows it now.
func injectFill(ctx context.Context, connect connectFunc, rd *revertData, params plugins.Params) error {
	if rd.Fill == nil {
		return fmt.Errorf("revert data of pod %s/%s names no fill file", rd.Namespace, rd.Name)
	}
	e, err := connect(ctx)
	if err != nil {
		return fmt.Errorf("in-pod faults reach the container through its node's Docker Engine: %w", err)
	}
	defer e.Close()
	who := rd.fillWho()
	ct, err := e.Inspect(ctx, rd.Fill.ContainerID)
	if err != nil {
		return fmt.Errorf("%s (docker %s): %w", who, short(rd.Fill.ContainerID), err)
	}
	return rd.Fill.Inject(ctx, ct, params, who)
}

// revertFill removes the fill file. When no container on this machine's
// Engine reaches it any more, it is done only if the file went with what
// held it (fillGone); otherwise the file may still be there, and that is
// an error to retry.
func revertFill(ctx context.Context, c k8s.Interface, connect connectFunc, rd revertData, log zerolog.Logger) error {
	if rd.Fill == nil {
		return nil
	}
	gone, err := onFill(ctx, c, connect, rd, func(e dockerengine.Engine) error {
		return rd.fillFile().Revert(ctx, e, rd.Fill.ContainerID, rd.fillWho())
	})
	if gone != "" {
		log.Info().Msgf("not removing the fill file: %s", gone)
	}
	return err
}

// statusFill reads the fill file's real state; one that cannot be reached
// is an error, unless it went with what held it (fillGone).
func statusFill(ctx context.Context, c k8s.Interface, connect connectFunc, rd revertData) (plugins.Status, error) {
	if rd.Fill == nil {
		return plugins.Status{}, fmt.Errorf("revert data names no fill file")
	}
	var st plugins.Status
	gone, err := onFill(ctx, c, connect, rd, func(e dockerengine.Engine) error {
		var err error
		st, err = rd.fillFile().Status(ctx, e, rd.Fill.ContainerID, rd.fillWho())
		return err
	})
	if gone != "" {
		return plugins.Status{Detail: "no fill file: " + gone}, nil
	}
	return st, err
}

// onFill calls do on the fill file as this machine's Engine reaches it.
// When no container reaches it any more (ErrNotFound), gone says why the
// file went with what held it (fillGone); when it may still be there, the
// error leaves it to a retry.
func onFill(ctx context.Context, c k8s.Interface, connect connectFunc, rd revertData, do func(dockerengine.Engine) error) (gone string, err error) {
	err = withFillEngine(ctx, connect, rd, do)
	if !errors.Is(err, dockerengine.ErrNotFound) {
		return "", err
	}
	why, gerr := fillGone(ctx, c, rd)
	if gerr != nil {
		return "", fmt.Errorf("fill file %s of %s: %w", path.Join(rd.Fill.ContainerPath, rd.Fill.File), rd.fillWho(), gerr)
	}
	return why, nil
}

// withFillEngine calls do with this machine's Engine, when the fill file
// is reached through a container (nil for a volume's source, which needs
// none).
func withFillEngine(ctx context.Context, connect connectFunc, rd revertData, do func(dockerengine.Engine) error) error {
	if rd.Fill.Via == dockerengine.ViaMount {
		return do(nil)
	}
	e, err := connect(ctx)
	if err != nil {
		return fmt.Errorf("the fill file of %s is reached through its node's Docker Engine: %w", rd.fillWho(), err)
	}
	defer e.Close()
	return do(e)
}

// fillGone says why the fill file needs no removal when this machine's
// Engine has no container that reaches it: the container's own
// filesystem went with the container; a volume goes only with its pod,
// and while the API still has the pod, the file is out of reach, not
// gone (this is not its node, or the kubelet has yet to start a
// container).
func fillGone(ctx context.Context, c k8s.Interface, rd revertData) (string, error) {
	if rd.Fill.Via != dockerengine.ViaMountRoot {
		return fmt.Sprintf("container %s (docker %s) is gone, and its filesystem with it", rd.Fill.Container, short(rd.Fill.ContainerID)), nil
	}
	gone, err := podGone(ctx, c, rd)
	switch {
	case err != nil:
		return "", err
	case gone == "":
		return "", fmt.Errorf("pod %s/%s is still there, and so is its volume with the file, but no container of it runs on this machine's Docker Engine: retry on node %s once one runs", rd.Namespace, rd.Name, rd.Node)
	}
	return fmt.Sprintf("pod %s/%s is %s, and its volumes with it", rd.Namespace, rd.Name, gone), nil
}

// fillFile is the fill's file as the shared mechanics take it. Revert data
// from before pod_uid and pod_container were recorded names the pod (its
// uid) and the container (by name) all the same: with them, the container
// the kubelet starts in the place of a crashed one is found.
func (rd revertData) fillFile() *fill.ContainerFile {
	fd := rd.Fill.ContainerFile
	if fd.PodUID == "" {
		fd.PodUID = string(rd.UID)
	}
	if fd.PodContainer == "" {
		fd.PodContainer = rd.Fill.Container
	}
	return &fd
}

// fillWho names the fill's container in errors and Details.
func (rd revertData) fillWho() string {
	return fmt.Sprintf("container %s of pod %s/%s", rd.Fill.Container, rd.Namespace, rd.Name)
}

// allowNodeWideParam: an in-pod fault on a pod that shares the node's
// network or pid namespace (hostNetwork, hostPID) reaches the whole node,
// so it is refused unless the scenario says so.
var allowNodeWideParam = plugins.Param{
	Name: "allow_node_wide", Type: plugins.TypeBool, Default: false,
	Doc: "allow the fault on a hostNetwork or hostPID pod, where it reaches the whole node",
}

// inPodTargets lists the pods an in-pod fault hits, refusing those that
// share the node's namespaces unless allow_node_wide; the dry run names
// the ones allowed as node-wide.
func inPodTargets(ctx context.Context, c k8s.Interface, s kube.Selector, params plugins.Params) ([]plugins.Target, error) {
	pods, err := kube.Pods(ctx, c, s, nil)
	if err != nil {
		return nil, err
	}
	allow, _ := params["allow_node_wide"].(bool)
	out := make([]plugins.Target, len(pods))
	for i, p := range pods {
		out[i] = target(s, kube.KindPod, p.Namespace, p.Name, p.UID, map[string]string{attrNode: p.Spec.NodeName})
		var shared []string
		if p.Spec.HostNetwork {
			shared = append(shared, "hostNetwork")
		}
		if p.Spec.HostPID {
			shared = append(shared, "hostPID")
		}
		if len(shared) == 0 {
			continue
		}
		if !allow {
			return nil, &plugins.ValidationError{Field: "params.allow_node_wide",
				Msg: fmt.Sprintf("pod %s/%s runs with %s: the fault would reach the whole node %s; set allow_node_wide = true to allow it", p.Namespace, p.Name, strings.Join(shared, " and "), p.Spec.NodeName)}
		}
		out[i].Name += " (node-wide: " + strings.Join(shared, ", ") + ")"
	}
	return out, nil
}
