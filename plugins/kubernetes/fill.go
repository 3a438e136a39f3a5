package kubernetes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"
	gdisk "github.com/shirou/gopsutil/v3/disk"
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
// a sizeLimit) or say so.

type fillData struct {
	Container     string `json:"container"`
	ContainerID   string `json:"container_id"`
	ContainerPath string `json:"container_path"`
	File          string `json:"file"`
	Via           string `json:"via"`                 // dockerengine.ViaMount or ViaRootfs
	HostFile      string `json:"host_file,omitempty"` // ViaMount: the file on the node
	Written       int64  `json:"written"`
}

// fillInPod: the node agent's docker fill.
var fillInPod = &inPod{
	plugin: "docker", action: "fill", selectorKey: "name",
	params: []nodeParam{
		{Param: plugins.Param{Name: "path", Type: plugins.TypeString, Required: true, Doc: "absolute directory inside the container, e.g. a volume's mount point"}, to: "path"},
		{Param: plugins.Param{Name: "percent", Type: plugins.TypeFloat, Min: new(1.0), Max: new(100.0), Doc: "fill until the filesystem is this percent used (default 100)"}, to: "percent"},
		{Param: plugins.Param{Name: "bytes", Type: plugins.TypeInt, Min: new(1.0), Doc: "write exactly this many bytes instead"}, to: "bytes"},
		{Param: fill.AllowOwnParam, to: fill.AllowOwnFilesystem},
	},
	local: true,
}

var fillAction = &action{
	Action: plugins.Action{
		Name: "fill",
		Doc: "fill a directory of a pod's container (e.g. an emptyDir's mount point) with one file for the fault's duration, removed on revert; " +
			"done by the node agent on the pod's node, else by chaosctl itself when it runs there with the node's Docker Engine",
		Reversible: true,
		Params:     fillInPod.schema(allowNodeWideParam),
	},
	kinds:   []string{kube.KindPod},
	targets: inPodTargets,
	node:    fillInPod,
	validate: func(params plugins.Params) []error {
		var errs []error
		if p, _ := params["path"].(string); !path.IsAbs(p) {
			errs = append(errs, &plugins.ValidationError{Field: "params.path", Msg: fmt.Sprintf("must be an absolute path in the container, got %q", p)})
		}
		_, hasP := params["percent"]
		_, hasB := params["bytes"]
		if hasP && hasB {
			errs = append(errs, &plugins.ValidationError{Field: "params", Msg: "give percent or bytes, not both"})
		}
		return errs
	},
	prepare: func(ctx context.Context, c k8s.Interface, _ plugins.Target, params plugins.Params, rd *revertData) error {
		e, ct, cs, err := targetContainer(ctx, c, rd, params)
		if err != nil {
			return err
		}
		defer e.Close()
		cpath, _ := params["path"].(string)
		dir, via, err := dockerengine.HostPath(ct, cpath)
		if err != nil {
			return err
		}
		var b [4]byte
		_, _ = rand.Read(b[:])
		fd := &fillData{Container: cs.Name, ContainerID: ct.ID, ContainerPath: cpath, File: ".chaosctl-fill-" + hex.EncodeToString(b[:]), Via: via}
		if via == dockerengine.ViaMount {
			fd.HostFile = filepath.Join(dir, fd.File)
		}
		rd.Fill = fd
		return nil
	},
	inject: func(ctx context.Context, _ k8s.Interface, _ plugins.Target, params plugins.Params, rd *revertData) error {
		fd := rd.Fill
		dir, err := fillDir(ctx, fd)
		if err != nil {
			return err
		}
		st, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("path %s of pod %s/%s (%s): %w", fd.ContainerPath, rd.Namespace, rd.Name, dir, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("path %s of pod %s/%s is not a directory", fd.ContainerPath, rd.Namespace, rd.Name)
		}
		if err := fill.RefuseOwnFilesystem(dir, params, "params.path"); err != nil {
			return fmt.Errorf("path %s of pod %s/%s: %w", fd.ContainerPath, rd.Namespace, rd.Name, err)
		}
		goal := fill.Goal{Percent: 100}
		if v, ok := params["percent"].(float64); ok {
			goal.Percent = v
		} else if v, ok := params["percent"].(int64); ok {
			goal.Percent = float64(v)
		}
		if v, ok := params["bytes"].(int64); ok {
			goal = fill.Goal{Bytes: v}
		}
		n, err := fill.To(ctx, filepath.Join(dir, fd.File), goal)
		fd.Written = n
		if err != nil {
			return fmt.Errorf("fill %s of pod %s/%s: %w", fd.ContainerPath, rd.Namespace, rd.Name, err)
		}
		return nil
	},
	revert: func(ctx context.Context, _ k8s.Interface, rd revertData, log zerolog.Logger) error {
		if rd.Fill == nil {
			return nil
		}
		file := rd.Fill.HostFile
		if file == "" {
			dir, err := fillDir(ctx, rd.Fill)
			if err != nil {
				log.Warn().Err(err).Msg("not removing the fill file: its container is gone, and its filesystem with it")
				return nil
			}
			file = filepath.Join(dir, rd.Fill.File)
		}
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove fill file %s: %w", file, err)
		}
		return nil
	},
	status: func(ctx context.Context, _ k8s.Interface, rd revertData) (plugins.Status, error) {
		if rd.Fill == nil {
			return plugins.Status{}, fmt.Errorf("revert data names no fill file")
		}
		file := rd.Fill.HostFile
		if file == "" {
			dir, err := fillDir(ctx, rd.Fill)
			if err != nil {
				return plugins.Status{Detail: err.Error()}, nil
			}
			file = filepath.Join(dir, rd.Fill.File)
		}
		st, err := os.Stat(file)
		if errors.Is(err, fs.ErrNotExist) {
			return plugins.Status{Detail: "no fill file in " + rd.Fill.ContainerPath}, nil
		}
		if err != nil {
			return plugins.Status{}, err
		}
		d := fmt.Sprintf("fill file of %d bytes in %s of container %s", st.Size(), rd.Fill.ContainerPath, rd.Fill.Container)
		if u, err := gdisk.UsageWithContext(ctx, filepath.Dir(file)); err == nil {
			d += fmt.Sprintf(", its filesystem %.1f%% used (%d bytes free)", u.UsedPercent, u.Free)
		}
		return plugins.Status{Active: true, Detail: d}, nil
	},
}

// fillDir is the fill's directory on the node, through the volume's
// source or the container's /proc/PID/root.
func fillDir(ctx context.Context, fd *fillData) (string, error) {
	if fd.HostFile != "" {
		return filepath.Dir(fd.HostFile), nil
	}
	e, err := dockerengine.Connect(ctx)
	if err != nil {
		return "", err
	}
	defer e.Close()
	ct, err := e.Inspect(ctx, fd.ContainerID)
	if err != nil {
		return "", err
	}
	dir, _, err := dockerengine.HostPath(ct, fd.ContainerPath)
	return dir, err
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
