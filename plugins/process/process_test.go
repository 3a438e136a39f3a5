package process

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
)

// sleeper starts a real process whose command line is unique to the test.
func sleeper(t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "30.0"+strconv.Itoa(os.Getpid()))
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	time.Sleep(50 * time.Millisecond)
	return cmd
}

func TestTargetsByCmdline(t *testing.T) {
	cmd := sleeper(t)
	sel := plugins.Params{"cmdline": "^sleep 30.0" + strconv.Itoa(os.Getpid()) + "$"}
	ts, err := New().Targets(context.Background(), "pause", nil, sel)
	if err != nil || len(ts) != 1 || ts[0].ID != strconv.Itoa(cmd.Process.Pid) {
		t.Fatalf("targets %+v %v, want pid %d", ts, err, cmd.Process.Pid)
	}
}

// TestNeverTargetsChaosctlHelpers: a plugin process (or a stress worker)
// matched by a selector is skipped: pausing one would hang the run.
func TestNeverTargetsChaosctlHelpers(t *testing.T) {
	sleeper(t, plugins.Handshake.MagicCookieKey+"="+plugins.Handshake.MagicCookieValue)
	sel := plugins.Params{"cmdline": "^sleep 30.0" + strconv.Itoa(os.Getpid()) + "$"}
	if ts, err := New().Targets(context.Background(), "pause", nil, sel); !errors.Is(err, plugins.ErrNoTargets) {
		t.Fatalf("targets %+v %v: a chaosctl plugin process was selected", ts, err)
	}
}

func TestPauseAndPreparedRevert(t *testing.T) {
	cmd := sleeper(t)
	ctx := context.Background()
	f := New()
	ts, err := f.Targets(ctx, "pause", nil, plugins.Params{"pid": int64(cmd.Process.Pid)})
	if err != nil {
		t.Fatal(err)
	}
	req := plugins.InjectRequest{Action: "pause", Target: ts[0]}
	prepared, err := f.Prepare(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	req.Prepared = prepared
	if _, err := f.Inject(ctx, req); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.Status(ctx, "pause", prepared); !st.Active {
		t.Fatalf("status after pause: %+v", st)
	}
	if err := f.Revert(ctx, "pause", prepared); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.Status(ctx, "pause", prepared); st.Active {
		t.Fatalf("still stopped after revert: %+v", st)
	}
}
