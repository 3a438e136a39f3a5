package docker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
)

// TestFillContainer: a fill of a volume seen only through the container's
// root is reached through the pod's running container: the original, or
// the one the kubelet started in its place. While none runs, that is an
// error to retry, never "gone"; once the pod is gone, it is.
func TestFillContainer(t *testing.T) {
	defer func(w time.Duration) { successorWait = w }(successorWait)
	successorWait = 300 * time.Millisecond
	pod := map[string]string{dockerengine.LabelPodUID: "uid-1", dockerengine.LabelContainerName: "app"}
	now := time.Now()
	running := func(id string, at time.Time) Container {
		return Container{ID: id, Running: true, State: "running", Pid: 100, StartedAt: at, Labels: pod}
	}
	exited := Container{ID: "old", State: "exited", Labels: pod}
	fd := func(via string) revertData {
		return revertData{ContainerID: "old", Name: "k8s_app", Fill: &fillData{ContainerPath: "/data", File: ".chaosctl-fill-x", Via: via, PodUID: "uid-1", PodContainer: "app"}}
	}
	for _, tc := range []struct {
		name     string
		engine   *fakeEngine
		via      string
		want     string
		notFound bool
		fails    bool
	}{
		{"the original still runs", newFake(running("old", now)), viaMountRoot, "old", false, false},
		{"its successor runs", newFake(exited, running("new1", now.Add(-time.Second)), running("new2", now)), viaMountRoot, "new2", false, false},
		{"restart back-off: none runs", newFake(exited), viaMountRoot, "", false, true},
		{"the pod is gone", newFake(), viaMountRoot, "", true, true},
		{"another pod's container is no successor", newFake(exited, Container{ID: "x", Running: true, Pid: 7, Labels: map[string]string{dockerengine.LabelPodUID: "uid-2", dockerengine.LabelContainerName: "app"}}), viaMountRoot, "", false, true},
		{"rootfs: the container's own layer", newFake(exited), viaRootfs, "old", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := fillContainer(context.Background(), tc.engine, fd(tc.via))
			switch {
			case tc.fails && err == nil:
				t.Fatalf("got %s, want an error", c.ID)
			case tc.fails && errors.Is(err, ErrNotFound) != tc.notFound:
				t.Fatalf("err %v: not found %v, want %v", err, errors.Is(err, ErrNotFound), tc.notFound)
			case !tc.fails && (err != nil || c.ID != tc.want):
				t.Fatalf("got %s %v, want %s", c.ID, err, tc.want)
			}
		})
	}
}
