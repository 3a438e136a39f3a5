package docker

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
	"syscall"
	"time"

	gdisk "github.com/shirou/gopsutil/v3/disk"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/plugins/fill"
)

// fill creates disk pressure inside a container: it writes one file into a
// path of the container's filesystem or of one of its volumes, resolved on
// the host through inspect (the mount's source) or /proc/PID/root (the
// container's root and tmpfs mounts). Revert removes that file. Like the
// disk plugin, it refuses a host directory on the filesystem of / or of
// chaosctl's own directories unless allow_own_filesystem = true.
//
// The space is taken by fill.To, shared with the kubernetes plugin; the
// container path reaches the host through dockerengine.HostPath.
var fillAction = &action{
	Action: plugins.Action{
		Name:       "fill",
		Doc:        "fill a path of the container (its filesystem or a volume) with one file for the fault's duration; remove it on revert",
		Reversible: true,
		Params: []plugins.Param{
			{Name: "path", Type: plugins.TypeString, Required: true, Doc: "absolute directory inside the container, e.g. a volume's mount point"},
			{Name: "percent", Type: plugins.TypeFloat, Min: new(1.0), Max: new(100.0), Doc: "fill until the filesystem is this percent used (default 100)"},
			{Name: "bytes", Type: plugins.TypeInt, Min: new(1.0), Doc: "write exactly this many bytes instead"},
			fill.AllowOwnParam,
		},
	},
	onlyRunning: true,
	validate: func(params plugins.Params) []error {
		var errs []error
		p, _ := params["path"].(string)
		if !path.IsAbs(p) {
			errs = append(errs, &plugins.ValidationError{Field: "params.path", Msg: fmt.Sprintf("must be an absolute path in the container, got %q", p)})
		}
		_, hasP := params["percent"]
		_, hasB := params["bytes"]
		if hasP && hasB {
			errs = append(errs, &plugins.ValidationError{Field: "params", Msg: "give percent or bytes, not both"})
		}
		return errs
	},
	prepare: prepareFill,
	inject: func(ctx context.Context, _ Engine, c Container, params plugins.Params, rd *revertData) error {
		cpath, _ := params["path"].(string)
		dir, _, err := resolve(c, cpath)
		if err != nil {
			return err
		}
		st, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("path %s of %s (%s): %w", cpath, c.Name, dir, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("path %s of %s is not a directory", cpath, c.Name)
		}
		// A volume or bind mount is a host directory: it may be on the
		// filesystem chaosctl keeps its store, ledgers and journals on.
		if err := fill.RefuseOwnFilesystem(dir, params, "params.path"); err != nil {
			return fmt.Errorf("path %s of %s: %w", cpath, c.Name, err)
		}
		if rd.Fill == nil || rd.Fill.ContainerPath != cpath {
			if err := prepareFill(c, params, rd); err != nil {
				return err
			}
		}
		fd, name := rd.Fill, rd.Fill.File
		goal := fill.Goal{Percent: 100}
		if v, ok := params["percent"]; ok {
			goal.Percent = toFloat(v)
		}
		if v, ok := params["bytes"].(int64); ok {
			goal = fill.Goal{Bytes: v}
		}
		n, err := fill.To(ctx, filepath.Join(dir, name), goal)
		fd.Written = n
		if err != nil {
			return fmt.Errorf("fill %s of %s: %w", cpath, c.Name, err)
		}
		return nil
	},
	revert: func(ctx context.Context, e Engine, rd revertData) error {
		if rd.Fill == nil {
			return nil
		}
		file := rd.Fill.HostFile
		if rd.Fill.Via != viaMount {
			c, err := fillContainer(ctx, e, rd)
			if err != nil {
				return err // not found: the container and its layer (or its pod and its volumes) are gone
			}
			dir, _, err := resolve(c, rd.Fill.ContainerPath)
			if err != nil {
				return err
			}
			file = filepath.Join(dir, rd.Fill.File)
		}
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove fill file %s: %w", file, err)
		}
		return nil
	},
	status: func(ctx context.Context, e Engine, c Container, rd revertData) (plugins.Status, error) {
		if rd.Fill == nil {
			return plugins.Status{}, nil
		}
		file := rd.Fill.HostFile
		if rd.Fill.Via == viaMountRoot {
			// Only a running container of the pod reaches the volume:
			// without one, the fill's state cannot be read, not "gone".
			var err error
			if c, err = fillContainer(ctx, e, rd); err != nil {
				return plugins.Status{}, fmt.Errorf("fill file of %s: %w", rd.Name, err)
			}
		}
		if rd.Fill.Via != viaMount {
			dir, _, err := resolve(c, rd.Fill.ContainerPath)
			if err != nil {
				return plugins.Status{Detail: err.Error()}, nil
			}
			file = filepath.Join(dir, rd.Fill.File)
		}
		st, err := os.Stat(file)
		if errors.Is(err, fs.ErrNotExist) {
			return plugins.Status{Detail: fmt.Sprintf("fill file %s of %s is gone", path.Join(rd.Fill.ContainerPath, rd.Fill.File), c.Name)}, nil
		}
		if err != nil {
			return plugins.Status{}, fmt.Errorf("fill file of %s: %w", c.Name, err)
		}
		held := uint64(st.Size())
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			held = uint64(sys.Blocks) * 512
		}
		detail := fmt.Sprintf("fill file %s of %s holds %d bytes", path.Join(rd.Fill.ContainerPath, rd.Fill.File), c.Name, held)
		if u, err := gdisk.UsageWithContext(ctx, filepath.Dir(file)); err == nil {
			detail += fmt.Sprintf("; filesystem %.1f%% used", u.UsedPercent)
		}
		return plugins.Status{Active: true, Detail: detail}, nil
	},
}

// prepareFill names the fill file, and where it will be on the host, before
// it exists.
func prepareFill(c Container, params plugins.Params, rd *revertData) error {
	cpath, _ := params["path"].(string)
	dir, via, err := resolve(c, cpath)
	if err != nil {
		return err
	}
	fd := &fillData{ContainerPath: cpath, File: ".chaosctl-fill-" + randHex(), Via: via,
		PodUID: c.Labels[dockerengine.LabelPodUID], PodContainer: c.Labels[dockerengine.LabelContainerName]}
	if via == viaMount {
		fd.HostFile = filepath.Join(dir, fd.File)
	}
	rd.Fill = fd
	return nil
}

const (
	viaMount     = dockerengine.ViaMount
	viaRootfs    = dockerengine.ViaRootfs
	viaMountRoot = dockerengine.ViaMountRoot
)

// successorWait bounds the wait for a pod's next container.
var successorWait = 15 * time.Second

// fillContainer is the container through which the fill file is reached
// now. A fill of a volume seen only through the container's root
// (ViaMountRoot) is in the volume, which outlives the container: after a
// crash the kubelet starts another container in the pod, and the file is
// reached through it. While none runs (a restart back-off) the file is
// out of reach, and that is an error to retry, never "gone".
func fillContainer(ctx context.Context, e Engine, rd revertData) (Container, error) {
	c, err := e.Inspect(ctx, rd.ContainerID)
	if rd.Fill.Via != viaMountRoot || (err == nil && c.Running && c.Pid > 0) {
		return c, err
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return c, err
	}
	// The kubelet starts the next container within a second or so (then
	// backs off): wait a little for it rather than fail the revert.
	s, ok, serr := dockerengine.Successor(ctx, e, rd.Fill.PodUID, rd.Fill.PodContainer)
	for deadline := time.Now().Add(successorWait); serr == nil && !ok && rd.Fill.PodUID != "" && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return Container{}, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		s, ok, serr = dockerengine.Successor(ctx, e, rd.Fill.PodUID, rd.Fill.PodContainer)
	}
	switch {
	case serr != nil:
		return Container{}, serr
	case ok:
		return s, nil
	case err != nil && rd.Fill.PodUID != "":
		// The container is removed and no container of its pod runs:
		// the pod, and its volumes, are gone.
		return Container{}, err
	}
	return Container{}, fmt.Errorf("fill file %s of %s is in a volume reachable only through a running container of it (or of its pod), and none runs now: retry once it is running",
		path.Join(rd.Fill.ContainerPath, rd.Fill.File), rd.Name)
}

// fillData is what fill's revert needs.
type fillData struct {
	ContainerPath string `json:"container_path"`
	File          string `json:"file"`                // file name in that directory
	Via           string `json:"via"`                 // mount, rootfs or mount-root
	HostFile      string `json:"host_file,omitempty"` // mount: the file on the host
	Written       int64  `json:"written"`
	// A pod's container (mount-root): its successor reaches the volume.
	PodUID       string `json:"pod_uid,omitempty"`
	PodContainer string `json:"pod_container,omitempty"`
}

// resolve maps a directory of the container to a host path
// (dockerengine.HostPath).
func resolve(c Container, cpath string) (string, string, error) {
	return dockerengine.HostPath(c, cpath)
}

// resolvePath is resolve without the pid check.
func resolvePath(c Container, cpath string) (string, string, error) {
	return dockerengine.MapPath(c, cpath)
}

func randHex() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	}
	return 0
}
