package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/rs/zerolog"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/plugins/fill/filltest"
)

// TestLocalFillRevertAfterTheContainerIsGone: the fill of a pod's volume
// seen only through its container's root, done here (no node agent), after
// the app crashed and the kubelet started another container in the pod.
// The revert removes the file through that container, also from revert
// data of the version that did not record the pod (its uid and the
// container's name are in it all the same); while none runs, or this
// machine's Engine has none of the pod while the API still has the pod,
// it fails and the file is kept, never "gone"; only with the pod gone is
// nothing left to remove.
func TestLocalFillRevertAfterTheContainerIsGone(t *testing.T) {
	pod := map[string]string{dockerengine.LabelPodUID: "uid-web", dockerengine.LabelContainerName: "app"}
	const oldData = `{"kind":"pod","namespace":"shop","name":"web-0","uid":"uid-web","node":"node-1","fill":` +
		`{"container":"app","container_id":"old","container_path":%q,"file":".chaosctl-fill-0a1b2c3d","via":"mount-root","written":4096}}`
	const newData = `{"kind":"pod","namespace":"shop","name":"web-0","uid":"uid-web","node":"node-1","fill":` +
		`{"container":"app","container_id":"old","container_path":%q,"file":".chaosctl-fill-0a1b2c3d","via":"mount-root","written":4096,"pod_uid":"uid-web","pod_container":"app"}}`
	for _, tc := range []struct {
		name    string
		data    string
		crash   filltest.Crash
		podGone bool
		removed bool   // the revert succeeds, the file removed
		done    string // the revert succeeds, the file went with the pod; what it logs
		status  string // the Detail, "" for an error
	}{
		{"old data: the successor runs", oldData, filltest.Restarted, false, true, "", "fill file of container app of pod shop/web-0 holds 4096 bytes"},
		{"new data: the successor runs", newData, filltest.Restarted, false, true, "", "fill file of container app of pod shop/web-0 holds 4096 bytes"},
		{"the original exited, none runs yet", oldData, filltest.BackOff, false, false, "", ""},
		{"none of the pod on this Engine, the pod still there", newData, filltest.PodGone, false, false, "", ""},
		{"none of the pod on this Engine, the pod gone", newData, filltest.PodGone, true, false, "pod shop/web-0 is gone, and its volumes with it", "no fill file: pod shop/web-0 is gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				e, dir, file := filltest.AfterCrash(t, tc.crash, pod, ".chaosctl-fill-0a1b2c3d")
				connect := func(context.Context) (dockerengine.Engine, error) { return e, nil }
				var objs []runtime.Object
				if !tc.podGone {
					objs = append(objs, testPod("uid-web", "docker://"+testContainerID))
				}
				c := fake.NewClientset(objs...)
				var rd revertData
				if err := json.Unmarshal(fmt.Appendf(nil, tc.data, dir), &rd); err != nil {
					t.Fatal(err)
				}

				st, err := statusFill(ctx, c, connect, rd)
				switch {
				case tc.status == "" && err == nil:
					t.Fatalf("status %+v, want an error: the file is out of reach, not gone", st)
				case tc.status != "" && (err != nil || st.Active != tc.removed || !strings.HasPrefix(st.Detail, tc.status)):
					t.Fatalf("status %+v %v, want %q", st, err, tc.status)
				}
				var log bytes.Buffer
				err = revertFill(ctx, c, connect, rd, zerolog.New(&log))
				_, left := os.Stat(file)
				switch {
				case tc.removed && (err != nil || !errors.Is(left, os.ErrNotExist)):
					t.Fatalf("revert: %v; the file: %v", err, left)
				case tc.done != "" && (err != nil || !strings.Contains(log.String(), tc.done)):
					t.Fatalf("revert: %v; logged %s, want %q", err, log.String(), tc.done)
				case !tc.removed && tc.done == "" && (err == nil || left != nil):
					t.Fatalf("revert: %v, want an error and the file kept (%v)", err, left)
				}
			})
		})
	}
}

// TestLocalFillOfAVolumeSourceNeedsNoEngine: a fill of a volume whose
// source chaosctl sees is removed there, without the Docker Engine, as
// the version before wrote it.
func TestLocalFillOfAVolumeSourceNeedsNoEngine(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, ".chaosctl-fill-0a1b2c3d")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	data := fmt.Appendf(nil, `{"kind":"pod","namespace":"shop","name":"web-0","uid":"uid-web","fill":`+
		`{"container":"app","container_id":"old","container_path":"/data","file":".chaosctl-fill-0a1b2c3d","via":"mount","host_file":%q,"written":0}}`, file)
	var rd revertData
	if err := json.Unmarshal(data, &rd); err != nil {
		t.Fatal(err)
	}
	connect := func(context.Context) (dockerengine.Engine, error) { return nil, dockerengine.ErrUnreachable }
	c := fake.NewClientset()
	if st, err := statusFill(context.Background(), c, connect, rd); err != nil || !st.Active {
		t.Fatalf("status %+v %v", st, err)
	}
	if err := revertFill(context.Background(), c, connect, rd, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the file after the revert: %v", err)
	}
}

// TestFillDataJSON: the revert data now records the pod's uid and
// container name beside what it always held, in the same keys.
func TestFillDataJSON(t *testing.T) {
	old := `{"container":"app","container_id":"c1","container_path":"/data","file":".chaosctl-fill-0a1b2c3d","via":"rootfs","written":4096}`
	var fd fillData
	if err := json.Unmarshal([]byte(old), &fd); err != nil {
		t.Fatal(err)
	}
	if fd.Container != "app" || fd.ContainerID != "c1" || fd.ContainerPath != "/data" || fd.File != ".chaosctl-fill-0a1b2c3d" || fd.Via != "rootfs" || fd.Written != 4096 {
		t.Fatalf("decoded %+v", fd)
	}
	fd.PodUID, fd.PodContainer = "uid-web", "app"
	b, err := json.Marshal(fd)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"container":"app","container_id":"c1","container_path":"/data","file":".chaosctl-fill-0a1b2c3d","via":"rootfs","written":4096,"pod_uid":"uid-web","pod_container":"app"}`
	if string(b) != want {
		t.Fatalf("encoded %s\nwant    %s", b, want)
	}
}
