package fill

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/plugins/fill/filltest"
)

var podLabels = map[string]string{dockerengine.LabelPodUID: "uid-1", dockerengine.LabelContainerName: "app"}

// TestReach: a fill of a volume seen only through the container's root is
// reached through the pod's running container: the original, or the one
// the kubelet started in its place, even a few seconds into the wait.
// While none runs, that is an error to retry, never "gone"; once the pod
// is gone, it is.
func TestReach(t *testing.T) {
	running := func(id string, at time.Time) dockerengine.Container {
		return dockerengine.Container{ID: id, Running: true, State: "running", Pid: 100, StartedAt: at, Labels: podLabels}
	}
	exited := dockerengine.Container{ID: "old", State: "exited", Labels: podLabels}
	other := dockerengine.Container{ID: "x", Running: true, Pid: 7, Labels: map[string]string{dockerengine.LabelPodUID: "uid-2", dockerengine.LabelContainerName: "app"}}
	for _, tc := range []struct {
		name     string
		cs       []dockerengine.Container
		later    []dockerengine.Container // started 5s into the wait
		via      string
		podUID   string
		want     string
		notFound bool
		fails    bool
	}{
		{"the original still runs", []dockerengine.Container{running("old", time.Now())}, nil, dockerengine.ViaMountRoot, "uid-1", "old", false, false},
		{"its successor runs", []dockerengine.Container{exited, running("new1", time.Now().Add(-time.Second)), running("new2", time.Now())}, nil, dockerengine.ViaMountRoot, "uid-1", "new2", false, false},
		{"its successor starts during the wait", []dockerengine.Container{exited}, []dockerengine.Container{running("new", time.Now())}, dockerengine.ViaMountRoot, "uid-1", "new", false, false},
		{"restart back-off: none runs", []dockerengine.Container{exited}, nil, dockerengine.ViaMountRoot, "uid-1", "", false, true},
		{"the pod is gone", nil, nil, dockerengine.ViaMountRoot, "uid-1", "", true, true},
		{"another pod's container is no successor", []dockerengine.Container{exited, other}, nil, dockerengine.ViaMountRoot, "uid-1", "", false, true},
		{"no pod recorded: gone is never concluded", nil, nil, dockerengine.ViaMountRoot, "", "", false, true},
		{"rootfs: the container's own layer", []dockerengine.Container{exited}, nil, dockerengine.ViaRootfs, "uid-1", "old", false, false},
		{"rootfs: gone with the container", nil, nil, dockerengine.ViaRootfs, "uid-1", "", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := filltest.New(tc.cs...)
				if tc.later != nil {
					go func() {
						time.Sleep(5 * time.Second)
						e.Put(tc.later...)
					}()
				}
				fd := &ContainerFile{ContainerPath: "/data", File: ".chaosctl-fill-x", Via: tc.via, PodUID: tc.podUID, PodContainer: "app"}
				c, err := fd.reach(context.Background(), e, "old", "k8s_app")
				switch {
				case tc.fails && err == nil:
					t.Fatalf("got %s, want an error", c.ID)
				case tc.fails && errors.Is(err, dockerengine.ErrNotFound) != tc.notFound:
					t.Fatalf("err %v: not found %v, want %v", err, errors.Is(err, dockerengine.ErrNotFound), tc.notFound)
				case !tc.fails && (err != nil || c.ID != tc.want):
					t.Fatalf("got %s %v, want %s", c.ID, err, tc.want)
				}
			})
		})
	}
}

// TestContainerFillAndRevert: a fill prepared on a container, through each
// way a directory of it reaches the host, writes a real file there, which
// Status measures and Revert removes.
func TestContainerFillAndRevert(t *testing.T) {
	params := plugins.Params{"path": "/ignored", "bytes": int64(4096), AllowOwnFilesystem: true}
	for _, via := range []string{dockerengine.ViaMount, dockerengine.ViaRootfs, dockerengine.ViaMountRoot} {
		t.Run(via, func(t *testing.T) {
			ctx := context.Background()
			dir := filltest.Dir(t)
			c := filltest.Here(t, dir, via == dockerengine.ViaMountRoot, podLabels)
			cpath := dir
			if via == dockerengine.ViaMount {
				c = dockerengine.Container{ID: "c1", Name: "api-1", State: "running", Running: true,
					Mounts: []dockerengine.Mount{{Type: "volume", Source: dir, Destination: "/data"}}}
				cpath = "/data"
			}
			e := filltest.New(c)
			fd, err := PrepareContainer(c, cpath)
			if err != nil {
				t.Fatal(err)
			}
			if fd.Via != via || (fd.HostFile != "") != (via == dockerengine.ViaMount) || !strings.HasPrefix(fd.File, filePrefix) {
				t.Fatalf("prepared %+v, want via %s", fd, via)
			}
			if via == dockerengine.ViaMountRoot && (fd.PodUID != "uid-1" || fd.PodContainer != "app") {
				t.Fatalf("prepared %+v: no pod to find a successor in", fd)
			}
			file := filepath.Join(dir, fd.File)
			if err := fd.Revert(ctx, e, c.ID, "api-1"); err != nil {
				t.Fatalf("revert before the inject: %v", err)
			}
			if err := fd.Inject(ctx, c, params, "api-1"); err != nil {
				t.Fatal(err)
			}
			if st, err := os.Stat(file); err != nil || st.Size() != 4096 || fd.Written != 4096 {
				t.Fatalf("fill file %v (%v), written %d", st, err, fd.Written)
			}
			st, err := fd.Status(ctx, e, c.ID, "api-1")
			if err != nil || !st.Active || !strings.HasPrefix(st.Detail, "fill file of api-1 holds 4096 bytes; filesystem of "+cpath+" ") {
				t.Fatalf("status %+v %v", st, err)
			}
			if err := fd.Revert(ctx, e, c.ID, "api-1"); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("fill file after the revert: %v", err)
			}
			st, err = fd.Status(ctx, e, c.ID, "api-1")
			if err != nil || st.Active || st.Detail != "fill file of api-1 is gone from "+cpath {
				t.Fatalf("status after the revert %+v %v", st, err)
			}
		})
	}
}

// TestInjectWritesOnlyWhereRevertLooks: a directory that reaches the host
// another way than when the fill was prepared is refused, before any file
// is made; so is one that is not a directory.
func TestInjectWritesOnlyWhereRevertLooks(t *testing.T) {
	dir, other := filltest.Dir(t), filltest.Dir(t)
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	at := func(src string) dockerengine.Container {
		return dockerengine.Container{ID: "c1", Name: "api-1", State: "running", Running: true,
			Mounts: []dockerengine.Mount{{Type: "volume", Source: src, Destination: "/data"}}}
	}
	params := plugins.Params{"bytes": int64(4096), AllowOwnFilesystem: true}
	for _, tc := range []struct {
		name  string
		cpath string
		now   dockerengine.Container
		want  string
	}{
		{"another volume source", "/data", at(other), "is reached at " + other + " (mount) now, not as when the fill was prepared (mount)"},
		{"not a directory", "/data/f", at(dir), "path /data/f of api-1 is not a directory"},
		{"not running", "/data", dockerengine.Container{State: "exited"}, "api-1 is exited, not running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd, err := PrepareContainer(at(dir), tc.cpath)
			if err != nil {
				t.Fatal(err)
			}
			err = fd.Inject(context.Background(), tc.now, params, "api-1")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if m, _ := filepath.Glob(filepath.Join(dir, filePrefix+"*")); len(m) > 0 {
				t.Fatalf("a refused fill left %v", m)
			}
		})
	}
}

// TestRevertNeverCallsAFileGoneThatMayBeThere: a file reached through a
// container is removed through the one that reaches it now; while none
// does, Revert and Status fail with the file kept, and say "not found"
// only where it went with its container or pod.
func TestRevertNeverCallsAFileGoneThatMayBeThere(t *testing.T) {
	for _, tc := range []struct {
		name      string
		via       string
		podUID    string
		crash     filltest.Crash
		removed   bool // the file is removed
		notFound  bool // the revert's error says it went with what held it
		statusErr bool
	}{
		{"volume source: no container needed", dockerengine.ViaMount, "uid-1", filltest.PodGone, true, false, false},
		{"the original is gone, its successor runs", dockerengine.ViaMountRoot, "uid-1", filltest.Restarted, true, false, false},
		{"the original exited, none runs yet", dockerengine.ViaMountRoot, "uid-1", filltest.BackOff, false, false, true},
		{"no container of the pod left", dockerengine.ViaMountRoot, "uid-1", filltest.PodGone, false, true, true},
		{"revert data without the pod: none can be found", dockerengine.ViaMountRoot, "", filltest.Restarted, false, false, true},
		{"the container's own layer, gone with it", dockerengine.ViaRootfs, "uid-1", filltest.PodGone, false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				fe, dir, file := filltest.AfterCrash(t, tc.crash, podLabels, filePrefix+"0a1b2c3d")
				fd := &ContainerFile{ContainerPath: dir, File: filepath.Base(file), Via: tc.via, PodUID: tc.podUID, PodContainer: "app", Written: 4096}
				var e dockerengine.Engine = fe
				if tc.via == dockerengine.ViaMount {
					fd.HostFile, e = file, nil
				}
				st, serr := fd.Status(ctx, e, "old", "k8s_app")
				if (serr != nil) != tc.statusErr || (serr == nil && !st.Active) {
					t.Fatalf("status %+v %v, want an error %v", st, serr, tc.statusErr)
				}
				err := fd.Revert(ctx, e, "old", "k8s_app")
				_, statErr := os.Stat(file)
				switch {
				case tc.removed && (err != nil || !errors.Is(statErr, os.ErrNotExist)):
					t.Fatalf("revert: %v; the file: %v", err, statErr)
				case !tc.removed && (err == nil || statErr != nil):
					t.Fatalf("revert: %v, want an error and the file kept (%v)", err, statErr)
				case errors.Is(err, dockerengine.ErrNotFound) != tc.notFound:
					t.Fatalf("revert: %v: not found %v, want %v", err, errors.Is(err, dockerengine.ErrNotFound), tc.notFound)
				}
			})
		})
	}
}

// TestContainerFileJSON: revert data the docker plugin wrote before the
// mechanics moved here decodes, and encodes back the same.
func TestContainerFileJSON(t *testing.T) {
	for _, old := range []string{
		`{"container_path":"/data","file":".chaosctl-fill-0a1b2c3d","via":"mount","host_file":"/var/lib/docker/volumes/v/_data/.chaosctl-fill-0a1b2c3d","written":4096}`,
		`{"container_path":"/data","file":".chaosctl-fill-0a1b2c3d","via":"mount-root","written":4096,"pod_uid":"uid-1","pod_container":"app"}`,
	} {
		var fd ContainerFile
		if err := json.Unmarshal([]byte(old), &fd); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(fd)
		if err != nil {
			t.Fatal(err)
		}
		var was, now map[string]any
		_ = json.Unmarshal([]byte(old), &was)
		_ = json.Unmarshal(b, &now)
		if !reflect.DeepEqual(was, now) {
			t.Errorf("%s\nencodes back as %s", old, b)
		}
	}
}

func TestGoalOf(t *testing.T) {
	for _, tc := range []struct {
		params plugins.Params
		want   Goal
	}{
		{plugins.Params{}, Goal{Percent: 100}},
		{plugins.Params{"percent": 80.5}, Goal{Percent: 80.5}},
		{plugins.Params{"percent": int64(80)}, Goal{Percent: 80}},
		{plugins.Params{"bytes": int64(4096)}, Goal{Bytes: 4096}},
	} {
		if got := GoalOf(tc.params); got != tc.want {
			t.Errorf("GoalOf(%v) = %+v, want %+v", tc.params, got, tc.want)
		}
	}
}
