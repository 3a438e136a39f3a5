// Package filltest is what unit tests of a fill of a container's directory
// share: a fake Docker Engine that lists and inspects containers, and a
// container whose root is this machine's, so that the fill file is a real
// file in the test's directory. It is no proof that anything works against
// Docker: test/ does that.
package filltest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
)

// Engine is a fake Engine of the containers it holds. Only List, Inspect
// and Close are implemented: a fill makes no other call, and any other
// panics.
type Engine struct {
	dockerengine.Engine
	mu sync.Mutex
	cs map[string]dockerengine.Container
}

var _ dockerengine.Engine = (*Engine)(nil)

// New is an Engine holding cs.
func New(cs ...dockerengine.Container) *Engine {
	e := &Engine{cs: map[string]dockerengine.Container{}}
	e.Put(cs...)
	return e
}

// Put adds cs, or replaces those of the same id.
func (e *Engine) Put(cs ...dockerengine.Container) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range cs {
		e.cs[c.ID] = c
	}
}

// Remove drops the container id, as docker rm does.
func (e *Engine) Remove(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.cs, id)
}

// List is the running and paused containers, without their pids, as the
// Engine lists them.
func (e *Engine) List(context.Context) ([]dockerengine.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []dockerengine.Container
	for _, c := range e.cs {
		if c.Running || c.Paused {
			c.Pid = 0
			out = append(out, c)
		}
	}
	return out, nil
}

// Inspect is the container id, or dockerengine.ErrNotFound.
func (e *Engine) Inspect(_ context.Context, id string) (dockerengine.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.cs[id]
	if !ok {
		return dockerengine.Container{}, fmt.Errorf("container %s: %w", id, dockerengine.ErrNotFound)
	}
	return c, nil
}

// Close does nothing.
func (e *Engine) Close() error { return nil }

// Here is a running container whose init process is this test's, so that
// its /proc/PID/root is this machine's root: given as the container's
// path, a directory of the test's (Dir) is reached through it for real.
// Its id is a line of this process's cgroup file, where
// dockerengine.OwnPid looks for it; so only one such container is
// running in a test. With volume, that directory is a volume whose source
// chaosctl cannot see, reached as dockerengine.ViaMountRoot; without, as
// the container's own filesystem (ViaRootfs).
func Here(t testing.TB, dir string, volume bool, labels map[string]string) dockerengine.Container {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	id, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if err != nil || id == "" {
		t.Skipf("no cgroup of this process to name a container by: %v", err)
	}
	c := dockerengine.Container{ID: id, Name: "k8s_app_web-0", State: "running", Running: true, Pid: os.Getpid(), Labels: labels}
	if volume {
		c.Mounts = []dockerengine.Mount{{Type: "volume", Source: filepath.Join(dir, "source-out-of-sight"), Destination: dir}}
	}
	return c
}

// Dir is a directory of the test without symbolic links on its way, as
// a path through a container's root must be.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// Crash is what the Engine holds of a pod once the container a fill went
// in by ("old") crashed.
type Crash int

const (
	PodGone   Crash = iota // no container of the pod is left
	BackOff                // the old one exited, and none runs yet
	Restarted              // the old one is removed; the kubelet's next one (Here) runs
)

// AfterCrash is a fake Engine as a fill of a pod's volume, seen only
// through its container's root, finds it after a crash; and that volume:
// a directory of the test (dir) holding the fill file name of 4096 bytes
// (file), as the inject left it. labels are the pod's containers'.
func AfterCrash(t testing.TB, crash Crash, labels map[string]string, name string) (e *Engine, dir, file string) {
	t.Helper()
	dir = Dir(t)
	file = filepath.Join(dir, name)
	if err := os.WriteFile(file, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	switch crash {
	case BackOff:
		return New(dockerengine.Container{ID: "old", Name: "k8s_app_web-0", State: "exited", Labels: labels}), dir, file
	case Restarted:
		return New(Here(t, dir, true, labels)), dir, file
	}
	return New(), dir, file
}
