package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/internal/kube"
	"github.com/chaosctl/chaosctl/plugins"
)

// container-crash kills a pod's container's main process from its node,
// as a real crash: the kubelet's restart policy applies. It reaches the
// process through the node's container runtime (Docker, which the
// kubelet drives through cri-dockerd), from the pod's node: the node
// agent there does it (the docker plugin's crash), else chaosctl itself
// when it runs on that node. Status reads the pod's container status
// (the crash, the restartCount) from the API either way.

type crashData struct {
	Container    string `json:"container"`
	ContainerID  string `json:"container_id"` // the runtime's id, without docker://
	Pid          int    `json:"pid"`
	Signal       string `json:"signal"`
	RestartCount int32  `json:"restart_count"` // before the crash
}

// crashInPod: the node agent's docker crash.
var crashInPod = &inPod{
	plugin: "docker", action: "crash", selectorKey: "name",
	params: []nodeParam{{Param: plugins.SignalParam, to: "signal"}},
	local:  true, apiStatus: true,
	prepared: func(rd *revertData, cs corev1.ContainerStatus, params plugins.Params) {
		s, _ := params["signal"].(string)
		sig, _, _ := plugins.ParseSignal(s)
		rd.Crash = &crashData{Container: cs.Name, ContainerID: rd.Agent.ContainerID, Signal: sig, RestartCount: cs.RestartCount}
	},
}

var containerCrashAction = &action{
	Action: plugins.Action{
		Name: "container-crash",
		Doc: "kill a pod's container's main process from its node (SIGKILL by default), a real crash: the kubelet's restart policy applies; " +
			"done by the node agent on the pod's node, else by chaosctl itself when it runs there with the node's Docker Engine; nothing to revert",
		Params: crashInPod.schema(),
	},
	kinds: []string{kube.KindPod},
	node:  crashInPod,
	validate: func(params plugins.Params) []error {
		s, _ := params["signal"].(string)
		if _, _, err := plugins.ParseSignal(s); err != nil {
			return []error{err}
		}
		return nil
	},
	inject: func(ctx context.Context, c k8s.Interface, _ plugins.Target, params plugins.Params, rd *revertData) error {
		e, ct, cs, err := targetContainer(ctx, c, rd, params)
		if err != nil {
			return err
		}
		defer e.Close()
		s, _ := params["signal"].(string)
		sigName, sig, err := plugins.ParseSignal(s)
		if err != nil {
			return err
		}
		id := ct.ID
		if ct.Pid <= 1 {
			return fmt.Errorf("container %s of pod %s/%s has no running process (state %s)", cs.Name, rd.Namespace, rd.Name, ct.State)
		}
		rd.Crash = &crashData{Container: cs.Name, ContainerID: id, Pid: ct.Pid, Signal: sigName, RestartCount: cs.RestartCount}
		if err := syscall.Kill(ct.Pid, sig); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("container %s: main process %d already gone", cs.Name, ct.Pid)
			}
			return fmt.Errorf("send %s to pid %d of container %s: %w", sigName, ct.Pid, cs.Name, err)
		}
		return nil
	},
	status: func(ctx context.Context, c k8s.Interface, rd revertData) (plugins.Status, error) {
		if rd.Crash == nil {
			return plugins.Status{}, fmt.Errorf("revert data names no container")
		}
		p, err := c.CoreV1().Pods(rd.Namespace).Get(ctx, rd.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return plugins.Status{Active: true, Detail: "pod gone since the crash"}, nil
		case err != nil:
			return plugins.Status{}, kube.Explain(err, "get", "pods", rd.Namespace)
		case p.UID != rd.UID:
			return plugins.Status{Active: true, Detail: "pod replaced since the crash"}, nil
		}
		cs, err := containerStatus(p, rd.Crash.Container)
		if err != nil {
			return plugins.Status{}, err
		}
		if t := cs.State.Terminated; t != nil && strings.HasSuffix(t.ContainerID, rd.Crash.ContainerID) {
			return plugins.Status{Active: true, Detail: fmt.Sprintf("container terminated (exit code %d, %s)", t.ExitCode, t.Reason)}, nil
		}
		if t := cs.LastTerminationState.Terminated; t != nil && strings.HasSuffix(t.ContainerID, rd.Crash.ContainerID) {
			return plugins.Status{Active: true, Detail: fmt.Sprintf("container crashed (exit code %d) and was restarted: restartCount %d -> %d", t.ExitCode, rd.Crash.RestartCount, cs.RestartCount)}, nil
		}
		if cs.RestartCount > rd.Crash.RestartCount {
			return plugins.Status{Active: true, Detail: fmt.Sprintf("restartCount %d -> %d", rd.Crash.RestartCount, cs.RestartCount)}, nil
		}
		return plugins.Status{Detail: fmt.Sprintf("no crash seen yet: restartCount %d, the kubelet has not reported the container's end", cs.RestartCount)}, nil
	},
}

func containerStatus(p *corev1.Pod, name string) (corev1.ContainerStatus, error) {
	if name == "" && len(p.Spec.Containers) > 0 {
		name = p.Spec.Containers[0].Name
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == name {
			return cs, nil
		}
	}
	return corev1.ContainerStatus{}, &plugins.ValidationError{Field: "params.container", Msg: fmt.Sprintf("pod %s/%s has no container %q with a status", p.Namespace, p.Name, name)}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// samePod gets the pod rd names, failing when it is another pod now.
func samePod(ctx context.Context, c k8s.Interface, rd *revertData) (*corev1.Pod, error) {
	p, err := c.CoreV1().Pods(rd.Namespace).Get(ctx, rd.Name, metav1.GetOptions{})
	if err != nil {
		return nil, kube.Explain(err, "get", "pods", rd.Namespace)
	}
	if p.UID != rd.UID {
		return nil, fmt.Errorf("pod %s/%s was replaced", rd.Namespace, rd.Name)
	}
	return p, nil
}

// targetContainer is podContainer for the pod rd names and the container
// params name.
func targetContainer(ctx context.Context, c k8s.Interface, rd *revertData, params plugins.Params) (dockerengine.Engine, dockerengine.Container, corev1.ContainerStatus, error) {
	p, err := samePod(ctx, c, rd)
	if err != nil {
		return nil, dockerengine.Container{}, corev1.ContainerStatus{}, err
	}
	name, _ := params["container"].(string)
	return podContainer(ctx, p, name)
}

// podContainer finds the pod's container (by name, default its first) on
// this machine's Docker Engine: the local path of an in-pod fault, when
// no node agent runs on the pod's node and chaosctl itself runs there.
// The caller closes the Engine.
func podContainer(ctx context.Context, p *corev1.Pod, name string) (dockerengine.Engine, dockerengine.Container, corev1.ContainerStatus, error) {
	var none dockerengine.Container
	cs, err := containerStatus(p, name)
	if err != nil {
		return nil, none, cs, err
	}
	id, err := dockerID(p, cs)
	if err != nil {
		return nil, none, cs, err
	}
	e, err := dockerengine.Connect(ctx)
	if err != nil {
		return nil, none, cs, fmt.Errorf("in-pod faults reach the container through its node's Docker Engine: %w", err)
	}
	ct, err := e.Inspect(ctx, id)
	if err != nil {
		e.Close()
		return nil, none, cs, fmt.Errorf("container %s of pod %s/%s (docker %s) is not on this machine's Docker Engine, and no node agent runs on node %s: deploy %s (or run chaosctl on that node): %w",
			cs.Name, p.Namespace, p.Name, short(id), p.Spec.NodeName, agentManifest, err)
	}
	return e, ct, cs, nil
}
