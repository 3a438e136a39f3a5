package docker

import (
	"context"
	"fmt"
	"os"
	"testing"
	"testing/synctest"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/plugins/fill/filltest"
)

// TestFillRevertedThroughTheSuccessor: revert data as this plugin wrote it
// for a fill of a pod's volume seen only through the container's root,
// whose container is gone: the file is removed through the container the
// kubelet started in its place; while none runs, Status and Revert fail
// and the file is kept. (How the container is found: fill's TestReach.)
func TestFillRevertedThroughTheSuccessor(t *testing.T) {
	pod := map[string]string{dockerengine.LabelPodUID: "uid-1", dockerengine.LabelContainerName: "app"}
	for _, crash := range []filltest.Crash{filltest.Restarted, filltest.BackOff} {
		t.Run(fmt.Sprint("crash ", crash), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e, dir, file := filltest.AfterCrash(t, crash, pod, ".chaosctl-fill-0a1b2c3d")
				data := fmt.Appendf(nil, `{"container_id":"old","name":"k8s_app","fill":{"container_path":%q,"file":".chaosctl-fill-0a1b2c3d","via":"mount-root","written":4096,"pod_uid":"uid-1","pod_container":"app"}}`, dir)
				f := NewWithEngine(e)
				st, serr := f.Status(context.Background(), "fill", data)
				err := f.Revert(context.Background(), "fill", data)
				_, left := os.Stat(file)
				switch restarted := crash == filltest.Restarted; {
				case restarted && (serr != nil || !st.Active || err != nil || left == nil):
					t.Fatalf("status %+v %v; revert %v; the file: %v", st, serr, err, left)
				case !restarted && (serr == nil || err == nil || left != nil):
					t.Fatalf("status %+v %v; revert %v, want errors and the file kept (%v)", st, serr, err, left)
				}
			})
		})
	}
}
