package stress

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/plugins"
)

// The container selector: the workers run in a Docker container's cgroup,
// found from its init process (/proc/PID/cgroup), for the controllers the
// action needs. The target is then that cgroup, as with the cgroup key.
// The node agent uses it for the kubernetes plugin's stress-cpu and
// stress-memory, with the pod's container id.

// readProcCgroup reads /proc/PID/cgroup.
func readProcCgroup(pid int) ([]byte, error) {
	return os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
}

// containerTarget is the cgroup of the container sel names, for action.
func (f *Fault) containerTarget(ctx context.Context, action, name string) (plugins.Target, error) {
	e, err := f.engine.Get(ctx)
	if err != nil {
		return plugins.Target{}, err
	}
	c, err := e.Inspect(ctx, name)
	if errors.Is(err, dockerengine.ErrNotFound) {
		return plugins.Target{}, fmt.Errorf("%w: no container %q", plugins.ErrNoTargets, name)
	}
	if err != nil {
		return plugins.Target{}, fmt.Errorf("inspect container %s: %w", name, err)
	}
	switch {
	case !c.Running || c.Pid <= 0:
		return plugins.Target{}, fmt.Errorf("%w: container %s is %s, not running", plugins.ErrNoTargets, c.Name, c.State)
	case c.Paused:
		return plugins.Target{}, fmt.Errorf("container %s is paused: its frozen cgroup would never let the workers start", c.Name)
	}
	if why := dockerengine.Protected(c); why != "" {
		return plugins.Target{}, fmt.Errorf("container %s is never a target: %s", c.Name, why)
	}
	b, err := f.procCgroup(c.Pid)
	if err != nil {
		return plugins.Target{}, fmt.Errorf("cgroups of container %s (pid %d): %w", c.Name, c.Pid, err)
	}
	// The pid is the container's process as seen from here, not one of
	// the same number in another pid namespace.
	if err := dockerengine.OwnCgroups(c, b); err != nil {
		return plugins.Target{}, err
	}
	cg, err := cgroupPath(b, controllers(action))
	if err != nil {
		return plugins.Target{}, fmt.Errorf("container %s (pid %d): %w", c.Name, c.Pid, err)
	}
	for _, ctl := range controllers(action) {
		procs := filepath.Join(f.cgroupRoot, ctl, cg, "cgroup.procs")
		if _, err := os.Stat(procs); err != nil {
			return plugins.Target{}, fmt.Errorf("container %s: its %s cgroup is not under %s here (mount the host's %s): %w", c.Name, ctl, f.cgroupRoot, CgroupRoot, err)
		}
	}
	return plugins.Target{Kind: "cgroup", ID: cg, Name: c.Name + " (cgroup " + cg + ")", Attrs: map[string]string{"container": c.ID}}, nil
}

// cgroupPath is the cgroup (v1) path, relative to each controller's
// hierarchy, that the content of /proc/PID/cgroup gives for every one of
// want; they must all be the same, and not the root.
func cgroupPath(procCgroup []byte, want []string) (string, error) {
	paths := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(procCgroup))
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			if slices.Contains(want, ctl) {
				paths[ctl] = parts[2]
			}
		}
	}
	var path string
	for i, ctl := range want {
		p, ok := paths[ctl]
		if !ok {
			return "", fmt.Errorf("no cgroup v1 %s controller for the process (cgroup v2 only?): the stress plugin places workers in v1 hierarchies", ctl)
		}
		if i > 0 && p != path {
			return "", fmt.Errorf("its %s cgroup %s and %s cgroup %s differ", want[0], path, ctl, p)
		}
		path = p
	}
	rel := strings.TrimPrefix(path, "/")
	switch {
	case rel == "":
		return "", fmt.Errorf("the process is in the root %s cgroup: stressing it would stress the host", want[0])
	case strings.Contains(rel, ".."):
		return "", fmt.Errorf("cgroup path %s is outside this process's cgroup namespace: run chaosctl in the host's cgroup namespace", path)
	}
	return rel, nil
}
