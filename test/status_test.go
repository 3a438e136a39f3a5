package test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/chaosctl/chaosctl/plugins"
	dockerplugin "github.com/chaosctl/chaosctl/plugins/docker"
)

// dockerFault drives the docker plugin's Go API against one real
// container, as the engine does when it fact-checks a fault.
type dockerFault struct {
	t    *testing.T
	f    *dockerplugin.Fault
	name string
}

func (d dockerFault) inject(action string) []byte {
	d.t.Helper()
	ctx := context.Background()
	ts, err := d.f.Targets(ctx, action, nil, plugins.Params{"name": d.name})
	if err != nil || len(ts) != 1 {
		d.t.Fatalf("%s targets: %+v, %v", action, ts, err)
	}
	rd, err := d.f.Inject(ctx, plugins.InjectRequest{Action: action, Target: ts[0]})
	if err != nil {
		d.t.Fatalf("inject %s: %v", action, err)
	}
	return rd
}

// status is Status from a fresh plugin: from the revert data and the
// Engine alone.
func (d dockerFault) status(action string, rd []byte, active bool, detail ...string) {
	d.t.Helper()
	f := dockerplugin.New()
	defer f.Close()
	st, err := f.Status(context.Background(), action, rd)
	if err != nil {
		d.t.Fatalf("status of %s: %v", action, err)
	}
	ok := st.Active == active
	for _, s := range detail {
		ok = ok && strings.Contains(st.Detail, s)
	}
	if !ok {
		d.t.Fatalf("status of %s: %+v, want active=%v with %q", action, st, active, detail)
	}
	d.t.Logf("%s: %+v", action, st)
}

// TestDockerStatusFromTheRealEngine: Status tells the truth from the
// Engine's state: a pause undone by hand has vanished, a revert holds, and
// a crash and a kill are confirmed by the container's die event.
func TestDockerStatusFromTheRealEngine(t *testing.T) {
	cli, img := needEngine(t)
	n := makeNetwork(t, cli)
	name := "chaosctl-test-status-" + uid()
	id := runContainer(t, cli, img, n, name, ctrOpts{IP: n.IP(10), Restart: container.RestartPolicyAlways})
	ctx := context.Background()
	f := dockerplugin.New()
	t.Cleanup(func() { _ = f.Close() })
	d := dockerFault{t: t, f: f, name: name}

	rd := d.inject("pause")
	d.status("pause", rd, true, "container "+name+" is paused")
	if err := cli.ContainerUnpause(ctx, id); err != nil {
		t.Fatal(err)
	}
	d.status("pause", rd, false, "container "+name+" is not paused: running since")

	rd = d.inject("pause")
	d.status("pause", rd, true, "is paused")
	if err := f.Revert(ctx, "pause", rd); err != nil {
		t.Fatal(err)
	}
	d.status("pause", rd, false, "is not paused")
	if in := inspect(t, cli, id); in.State.Paused {
		t.Fatal("container still paused after revert")
	}

	// A crash is the container's init dying on its own: its die event
	// confirms it, and the restart policy brings it back.
	before := inspect(t, cli, id)
	rd = d.inject("crash")
	d.status("crash", rd, true, "die event at ", "(exit code 137)")
	waitRunning(t, cli, id, before.State.StartedAt)

	rd = d.inject("kill")
	d.status("kill", rd, true, "die event at ", "(exit code 137); container "+name+" now exited (exit code 137)")
	if in := inspect(t, cli, id); in.State.Running || in.State.ExitCode != 137 {
		t.Fatalf("container %s exit %d after kill, want exited 137", in.State.Status, in.State.ExitCode)
	}
}

// waitRunning waits until the restart policy started the container again
// (a start after prev).
func waitRunning(t *testing.T, cli interface {
	ContainerInspect(context.Context, string) (container.InspectResponse, error)
}, id, prev string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		in, err := cli.ContainerInspect(context.Background(), id)
		if err == nil && in.State.Running && !in.State.Paused && in.State.StartedAt != prev {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the restart policy did not start the container again within 10s")
}
