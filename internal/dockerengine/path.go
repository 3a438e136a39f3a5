package dockerengine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// How a container's path reaches the host (HostPath's second result).
const (
	ViaMount  = "mount"  // the path is in a volume or bind mount: its host source
	ViaRootfs = "rootfs" // the container's own filesystem, through /proc/PID/root (or its upper dir when stopped)
	// ViaMountRoot: a volume or bind mount whose source chaosctl cannot
	// see (it runs in a container of its own, as the node agent does),
	// reached through the running container's /proc/PID/root. What is
	// written there is in the volume: it outlives the container, and is
	// reached again through the container that takes its place
	// (Successor).
	ViaMountRoot = "mount-root"
)

// HostPath maps a directory of the container to a host path (see
// MapPath), after checking that a path through /proc/PID is the
// container's own.
func HostPath(c Container, cpath string) (string, string, error) {
	dir, via, err := MapPath(c, cpath)
	if err == nil && (via == ViaRootfs || via == ViaMountRoot) && c.Pid > 0 {
		if err := OwnPid(c); err != nil {
			return "", "", err
		}
	}
	return dir, via, err
}

// MapPath maps a directory of the container to a host path: through
// the source of the volume or bind mount holding it, else through the
// container's root (/proc/PID/root, or its writable layer when stopped).
func MapPath(c Container, cpath string) (string, string, error) {
	cpath = path.Clean(cpath)
	best := -1
	for i, m := range c.Mounts {
		if m.Source == "" || (cpath != m.Destination && !strings.HasPrefix(cpath, strings.TrimSuffix(m.Destination, "/")+"/")) {
			continue
		}
		if best < 0 || len(m.Destination) > len(c.Mounts[best].Destination) {
			best = i
		}
	}
	if best >= 0 {
		m := c.Mounts[best]
		root := filepath.Join("/proc", strconv.Itoa(c.Pid), "root")
		if c.Pid <= 0 || sameDir(m.Source, filepath.Join(root, m.Destination)) {
			rel := strings.TrimPrefix(cpath, m.Destination)
			p, err := noSymlinks(m.Source, rel)
			return p, ViaMount, err
		}
		// The source is out of sight, or is another directory of the
		// same name here (chaosctl in a container of its own: the node
		// agent, with the host's pids but not its filesystem): the mount
		// is reached as the container sees it.
		p, err := noSymlinks(root, cpath)
		return p, ViaMountRoot, err
	}
	if c.Pid > 0 {
		p, err := noSymlinks(filepath.Join("/proc", strconv.Itoa(c.Pid), "root"), cpath)
		return p, ViaRootfs, err
	}
	if c.UpperDir != "" {
		p, err := noSymlinks(c.UpperDir, cpath)
		return p, ViaRootfs, err
	}
	return "", "", fmt.Errorf("container %s is not running and its filesystem is not reachable from the host", c.Name)
}

// noSymlinks joins rel under root, refusing a path that goes through a
// symbolic link: seen from the host, an absolute link inside a container
// (/var/run -> /run) points into the host's own filesystem.
func noSymlinks(root, rel string) (string, error) {
	p := root
	for _, part := range strings.Split(strings.Trim(path.Clean("/"+rel), "/"), "/") {
		if part == "" {
			continue
		}
		p = filepath.Join(p, part)
		st, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return filepath.Join(root, rel), nil // checked when it is used
		}
		if err != nil {
			return "", err
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return "", fmt.Errorf("%s goes through a symbolic link at %s: give the path it points to", rel, strings.TrimPrefix(p, root))
		}
	}
	return p, nil
}

// sameDir reports whether a mount's source, as chaosctl sees it, is the
// directory the container sees at the mount's destination. When the
// container's side cannot be read, the source is trusted if it exists.
func sameDir(source, inContainer string) bool {
	s, err := os.Stat(source)
	if err != nil {
		return false
	}
	c, err := os.Stat(inContainer)
	if err != nil {
		return true
	}
	return os.SameFile(s, c)
}

// Labels the kubelet (through cri-dockerd) puts on a pod's containers.
const (
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
)

// Successor is the running container that took the place of a pod's
// container: the kubelet starts a new one, with a new id, in the same pod,
// whose volumes outlive its containers. ok is false when none runs now.
func Successor(ctx context.Context, e Engine, podUID, name string) (Container, bool, error) {
	if podUID == "" || name == "" {
		return Container{}, false, nil
	}
	cs, err := e.List(ctx)
	if err != nil {
		return Container{}, false, err
	}
	var best Container
	for _, c := range cs {
		if !c.Running || c.Labels[LabelPodUID] != podUID || c.Labels[LabelContainerName] != name {
			continue
		}
		// A listed container has no pid: the Engine's inspect has.
		in, err := e.Inspect(ctx, c.ID)
		if err != nil || !in.Running || in.Pid <= 0 {
			continue
		}
		if best.ID == "" || in.StartedAt.After(best.StartedAt) {
			best = in
		}
	}
	return best, best.ID != "", nil
}
