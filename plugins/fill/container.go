package fill

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

	"github.com/shirou/gopsutil/v3/disk"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/plugins"
)

// A fill of a container's directory (the docker plugin's fill, and the
// kubernetes plugin's when chaosctl runs on the pod's node) writes one
// file there, reached from the host as dockerengine.HostPath maps it:
// through a volume's source, or through the container's root
// (/proc/PID/root). Revert removes that file, and never says it is gone
// while it may still be there.

// ContainerParams is the schema of a fill of a container's directory.
func ContainerParams() []plugins.Param {
	return []plugins.Param{
		{Name: "path", Type: plugins.TypeString, Required: true, Doc: "absolute directory inside the container, e.g. a volume's mount point"},
		{Name: "percent", Type: plugins.TypeFloat, Min: new(1.0), Max: new(100.0), Doc: "fill until the filesystem is this percent used (default 100)"},
		{Name: "bytes", Type: plugins.TypeInt, Min: new(1.0), Doc: "write exactly this many bytes instead"},
		AllowOwnParam,
	}
}

// ValidateContainer checks the parameters ContainerParams describes.
func ValidateContainer(params plugins.Params) []error {
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
}

// GoalOf is the goal the parameters ask for: bytes, else percent
// (default 100).
func GoalOf(params plugins.Params) Goal {
	if v, ok := params["bytes"].(int64); ok {
		return Goal{Bytes: v}
	}
	switch v := params["percent"].(type) {
	case float64:
		return Goal{Percent: v}
	case int64:
		return Goal{Percent: float64(v)}
	}
	return Goal{Percent: 100}
}

// ContainerFile is what undoes a fill of a container's directory, named
// before the file exists. Its JSON is what the docker and kubernetes
// plugins have always written in their revert data.
type ContainerFile struct {
	ContainerPath string `json:"container_path"`
	File          string `json:"file"`                // the file's name in that directory
	Via           string `json:"via"`                 // dockerengine.ViaMount, ViaRootfs or ViaMountRoot
	HostFile      string `json:"host_file,omitempty"` // ViaMount: the file on the host
	Written       int64  `json:"written"`
	// A pod's container (ViaMountRoot): the container the kubelet starts
	// in its place reaches the volume (dockerengine.Successor).
	PodUID       string `json:"pod_uid,omitempty"`
	PodContainer string `json:"pod_container,omitempty"`
}

// filePrefix starts a fill file's name, as the disk plugin's do.
const filePrefix = ".chaosctl-fill-"

// PrepareContainer names the fill file of directory cpath of c, and where
// it will be on the host, before it exists.
func PrepareContainer(c dockerengine.Container, cpath string) (*ContainerFile, error) {
	dir, via, err := dockerengine.HostPath(c, cpath)
	if err != nil {
		return nil, fmt.Errorf("path %s of %s: %w", cpath, c.Name, err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	fd := &ContainerFile{ContainerPath: cpath, File: filePrefix + hex.EncodeToString(b[:]), Via: via,
		PodUID: c.Labels[dockerengine.LabelPodUID], PodContainer: c.Labels[dockerengine.LabelContainerName]}
	if via == dockerengine.ViaMount {
		fd.HostFile = filepath.Join(dir, fd.File)
	}
	return fd, nil
}

// Inject writes fd's file into its directory of c, the running container
// it was prepared on, until it takes the space params ask for (GoalOf),
// refusing chaosctl's own filesystems (RefuseOwnFilesystem). The
// directory must be reached as it was when prepared: that is where the
// revert looks. who names the container in errors. On an error,
// fd.Written is what was taken and the file is left for the revert.
func (fd *ContainerFile) Inject(ctx context.Context, c dockerengine.Container, params plugins.Params, who string) error {
	if !c.Running {
		return fmt.Errorf("%s is %s, not running", who, c.State)
	}
	dir, via, err := dockerengine.HostPath(c, fd.ContainerPath)
	if err != nil {
		return fmt.Errorf("path %s of %s: %w", fd.ContainerPath, who, err)
	}
	file := filepath.Join(dir, fd.File)
	if via != fd.Via || (via == dockerengine.ViaMount && file != fd.HostFile) {
		return fmt.Errorf("path %s of %s is reached at %s (%s) now, not as when the fill was prepared (%s): refusing to write where its revert would not look",
			fd.ContainerPath, who, dir, via, fd.Via)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("path %s of %s (%s): %w", fd.ContainerPath, who, dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("path %s of %s is not a directory", fd.ContainerPath, who)
	}
	// A volume or bind mount is a host directory: it may be on the
	// filesystem chaosctl keeps its store, ledgers and journals on.
	if err := RefuseOwnFilesystem(dir, params, "params.path"); err != nil {
		return fmt.Errorf("path %s of %s: %w", fd.ContainerPath, who, err)
	}
	n, err := To(ctx, file, GoalOf(params))
	fd.Written = n
	if err != nil {
		return fmt.Errorf("fill %s of %s: %w", fd.ContainerPath, who, err)
	}
	return nil
}

// Revert removes fd's file: through a mount's source, else through the
// container that reaches it now (container id, or the pod's container in
// its place); e is not used for a mount's source, and may be nil then.
// It is done once the file is gone. An error wrapping
// dockerengine.ErrNotFound says the file went with what held it: the
// container and its layer (ViaRootfs), or the pod and its volumes (no
// container of the pod left, ViaMountRoot). Any other error leaves the
// file to a retry. who names the container in errors.
func (fd *ContainerFile) Revert(ctx context.Context, e dockerengine.Engine, id, who string) error {
	file, err := fd.hostFile(ctx, e, id, who)
	if err != nil {
		return err
	}
	if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove fill file %s: %w", file, err)
	}
	return nil
}

// Status reads the real state of fd's file, found as Revert finds it:
// active while it is there, with what it holds. A file that cannot be
// reached now is an error (ErrNotFound as for Revert), never "gone".
func (fd *ContainerFile) Status(ctx context.Context, e dockerengine.Engine, id, who string) (plugins.Status, error) {
	file, err := fd.hostFile(ctx, e, id, who)
	if err != nil {
		return plugins.Status{}, err
	}
	st, err := os.Stat(file)
	if errors.Is(err, fs.ErrNotExist) {
		return plugins.Status{Detail: fmt.Sprintf("fill file of %s is gone from %s", who, fd.ContainerPath)}, nil
	}
	if err != nil {
		return plugins.Status{}, fmt.Errorf("fill file %s: %w", file, err)
	}
	held := st.Size()
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		held = sys.Blocks * 512
	}
	detail := fmt.Sprintf("fill file of %s holds %d bytes", who, held)
	if u, err := disk.UsageWithContext(ctx, filepath.Dir(file)); err == nil {
		detail += fmt.Sprintf("; filesystem of %s %.1f%% used, %d bytes free", fd.ContainerPath, u.UsedPercent, u.Free)
	}
	return plugins.Status{Active: true, Detail: detail}, nil
}

// hostFile is where fd's file is on the host now.
func (fd *ContainerFile) hostFile(ctx context.Context, e dockerengine.Engine, id, who string) (string, error) {
	if fd.Via == dockerengine.ViaMount {
		if fd.HostFile == "" {
			return "", fmt.Errorf("revert data of the fill of %s names no file on the host", who)
		}
		return fd.HostFile, nil
	}
	c, err := fd.reach(ctx, e, id, who)
	if err != nil {
		return "", err
	}
	dir, _, err := dockerengine.HostPath(c, fd.ContainerPath)
	if err != nil {
		return "", fmt.Errorf("path %s of %s: %w", fd.ContainerPath, who, err)
	}
	return filepath.Join(dir, fd.File), nil
}

// successorWait bounds the wait for a pod's next container.
const successorWait = 15 * time.Second

// reach is the container through which fd's file is reached now: the
// container id. A fill of a volume seen only through the container's root
// (ViaMountRoot) is in the volume, which outlives the container: after a
// crash the kubelet starts another container in the pod, and the file is
// reached through it. While none runs (a restart back-off) the file is out
// of reach, and that is an error to retry, never "gone".
func (fd *ContainerFile) reach(ctx context.Context, e dockerengine.Engine, id, who string) (dockerengine.Container, error) {
	c, err := e.Inspect(ctx, id)
	if fd.Via != dockerengine.ViaMountRoot || (err == nil && c.Running && c.Pid > 0) {
		return c, err
	}
	if err != nil && !errors.Is(err, dockerengine.ErrNotFound) {
		return c, err
	}
	// The kubelet starts the next container within a second or so (then
	// backs off): wait a little for it rather than fail the revert.
	s, ok, serr := dockerengine.Successor(ctx, e, fd.PodUID, fd.PodContainer)
	for deadline := time.Now().Add(successorWait); serr == nil && !ok && fd.PodUID != "" && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return dockerengine.Container{}, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		s, ok, serr = dockerengine.Successor(ctx, e, fd.PodUID, fd.PodContainer)
	}
	switch {
	case serr != nil:
		return dockerengine.Container{}, serr
	case ok:
		return s, nil
	case err != nil && fd.PodUID != "":
		// The container is removed and no container of its pod runs:
		// the pod, and its volumes, are gone.
		return dockerengine.Container{}, err
	}
	return dockerengine.Container{}, fmt.Errorf("fill file %s of %s is in a volume reachable only through a running container of it (or of its pod), and none runs now: retry once it is running",
		path.Join(fd.ContainerPath, fd.File), who)
}
