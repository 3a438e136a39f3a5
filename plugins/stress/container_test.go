package stress

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/plugins"
)

const testID = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00998877665544332211"

func TestCgroupPath(t *testing.T) {
	pod := "kubepods/burstable/pod0b7c4a2e-5d1f-4c55-9a53-2f0c7e9d1a10/" + testID
	scope := "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0b7c4a2e_5d1f_4c55_9a53_2f0c7e9d1a10.slice/docker-" + testID + ".scope"
	for _, tc := range []struct {
		file    string
		want    []string
		path    string
		wantErr string
	}{
		{"cgroup-v1-cgroupfs", []string{"cpu"}, pod, ""},
		{"cgroup-v1-cgroupfs", []string{"memory"}, pod, ""},
		{"cgroup-v1-cgroupfs", []string{"cpu", "memory"}, pod, ""},
		{"cgroup-v1-systemd", []string{"cpu"}, scope, ""},
		{"cgroup-v1-systemd", []string{"memory"}, scope, ""},
		{"cgroup-v2", []string{"cpu"}, "", "no cgroup v1 cpu controller for the process (cgroup v2 only?)"},
		{"cgroup-v1-differ", []string{"memory"}, "docker/" + testID, ""},
		{"cgroup-v1-differ", []string{"cpu", "memory"}, "", "its cpu cgroup /kubepods/besteffort/pod1/" + testID + " and memory cgroup /docker/" + testID + " differ"},
		{"cgroup-v1-root", []string{"memory"}, "", "the process is in the root memory cgroup: stressing it would stress the host"},
		{"cgroup-v1-outside-ns", []string{"cpu"}, "", "is outside this process's cgroup namespace"},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.file, strings.Join(tc.want, "+")), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := cgroupPath(b, tc.want)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v, want %s", err, tc.path)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got %q, %v; want an error with %q", got, err, tc.wantErr)
			case got != tc.path:
				t.Fatalf("path %q, want %q", got, tc.path)
			}
		})
	}
}

// fakeEngine answers Inspect only.
type fakeEngine struct {
	dockerengine.Engine
	containers map[string]dockerengine.Container
}

func (e fakeEngine) Inspect(_ context.Context, id string) (dockerengine.Container, error) {
	for _, c := range e.containers {
		if c.ID == id || c.Name == id {
			return c, nil
		}
	}
	return dockerengine.Container{}, fmt.Errorf("container %s: %w", id, dockerengine.ErrNotFound)
}

func (fakeEngine) Close() error { return nil }

// onContainers is a stress fault whose Engine holds cs, whose processes'
// /proc/PID/cgroup are the testdata files named by pid, and whose cgroup
// hierarchies are a fresh directory holding the cgroupfs one.
func onContainers(t *testing.T, cs ...dockerengine.Container) *Fault {
	t.Helper()
	root := t.TempDir()
	for _, ctl := range []string{"cpu", "memory"} {
		dir := filepath.Join(root, ctl, "kubepods/burstable/pod0b7c4a2e-5d1f-4c55-9a53-2f0c7e9d1a10", testID)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := map[int]string{100: "cgroup-v1-cgroupfs", 200: "cgroup-v2", 300: "cgroup-v1-systemd"}
	e := fakeEngine{containers: map[string]dockerengine.Container{}}
	for _, c := range cs {
		e.containers[c.ID] = c
	}
	f := New()
	f.engine = dockerengine.Lazy{Connect: func(context.Context) (dockerengine.Engine, error) { return e, nil }}
	f.cgroupRoot = root
	f.procCgroup = func(pid int) ([]byte, error) {
		if name, ok := files[pid]; ok {
			return os.ReadFile(filepath.Join("testdata", name))
		}
		return nil, os.ErrNotExist
	}
	return f
}

func TestContainerSelector(t *testing.T) {
	ctx := context.Background()
	web := dockerengine.Container{ID: testID, Name: "k8s_web_web-0_shop", State: "running", Running: true, Pid: 100}
	for _, tc := range []struct {
		name    string
		c       dockerengine.Container
		sel     string // default: the container's id
		target  string
		wantErr string
		noTgts  bool
	}{
		{name: "running, by id", c: web, target: "kubepods/burstable/pod0b7c4a2e-5d1f-4c55-9a53-2f0c7e9d1a10/" + testID},
		{name: "running, by name", c: web, sel: "k8s_web_web-0_shop", target: "kubepods/burstable/pod0b7c4a2e-5d1f-4c55-9a53-2f0c7e9d1a10/" + testID},
		{name: "no such container", c: web, sel: "nosuch", noTgts: true, wantErr: `no container "nosuch"`},
		{name: "exited", c: func() dockerengine.Container { c := web; c.Running, c.State, c.Pid = false, "exited", 0; return c }(), noTgts: true, wantErr: "is exited, not running"},
		{name: "paused", c: func() dockerengine.Container { c := web; c.Paused, c.State = true, "paused"; return c }(), wantErr: "is paused"},
		{name: "skip label", c: func() dockerengine.Container {
			c := web
			c.Labels = map[string]string{dockerengine.LabelSkip: "true"}
			return c
		}(), wantErr: "is never a target"},
		{name: "another pid namespace", c: func() dockerengine.Container { c := web; c.ID = strings.Repeat("a", 64); return c }(), sel: "k8s_web_web-0_shop", wantErr: "is not container k8s_web_web-0_shop's process as seen from here"},
		{name: "cgroup v2", c: func() dockerengine.Container { c := web; c.Pid = 200; return c }(), wantErr: "no cgroup v1 cpu controller"},
		{name: "hierarchy not mounted here", c: func() dockerengine.Container { c := web; c.Pid = 300; return c }(), wantErr: "its cpu cgroup is not under"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := onContainers(t, tc.c)
			sel := tc.sel
			if sel == "" {
				sel = tc.c.ID
			}
			params := plugins.Params{"container": sel}
			if err := f.Validate(ctx, "cpu", nil, params); err != nil {
				t.Fatal(err)
			}
			ts, err := f.Targets(ctx, "cpu", nil, params)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.Is(err, plugins.ErrNoTargets) != tc.noTgts {
					t.Fatalf("targets %+v, %v; want an error with %q (ErrNoTargets %v)", ts, err, tc.wantErr, tc.noTgts)
				}
				return
			}
			if err != nil || len(ts) != 1 || ts[0].Kind != "cgroup" || ts[0].ID != tc.target || ts[0].Attrs["container"] != testID {
				t.Fatalf("targets %+v, %v; want the cgroup %s", ts, err, tc.target)
			}
		})
	}
}

func TestValidateContainer(t *testing.T) {
	f := New()
	for _, tc := range []struct {
		sel  plugins.Params
		want string
	}{
		{plugins.Params{"container": "web"}, ""},
		{plugins.Params{"container": ""}, "target.container: want a container's name or id"},
		{plugins.Params{"container": "web", "cgroup": "docker/abc"}, "target: give cgroup or container, not both"},
	} {
		err := f.Validate(context.Background(), "memory", nil, tc.sel)
		if (tc.want == "" && err != nil) || (tc.want != "" && (err == nil || err.Error() != tc.want)) {
			t.Errorf("Validate(%v) = %v, want %q", tc.sel, err, tc.want)
		}
	}
}
