package process

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
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

// inject selects cmd's process by pid and injects action on it.
func inject(t *testing.T, cmd *exec.Cmd, action string, params plugins.Params) []byte {
	t.Helper()
	ctx := context.Background()
	ts, err := New().Targets(ctx, action, params, plugins.Params{"pid": int64(cmd.Process.Pid)})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := New().Inject(ctx, plugins.InjectRequest{Action: action, Params: params, Target: ts[0]})
	if err != nil {
		t.Fatal(err)
	}
	return rd
}

// status is Status from a fresh plugin instance: from the revert data and
// the real process alone.
func status(t *testing.T, action string, rd []byte) plugins.Status {
	t.Helper()
	st, err := New().Status(context.Background(), action, rd)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// confirmed polls Status as the engine does after an instantaneous fault:
// a signal takes effect when its target next runs, after kill returned.
func confirmed(t *testing.T, action string, rd []byte) plugins.Status {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := status(t, action, rd)
		if st.Active || time.Now().After(deadline) {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wantStatus(t *testing.T, st plugins.Status, active bool, detail string) {
	t.Helper()
	if st.Active != active || !strings.Contains(st.Detail, detail) {
		t.Fatalf("status %+v, want active=%v with %q", st, active, detail)
	}
}

// TestKillStatusConfirmsTheProcessIsGone: a kill is confirmed once the
// exact process is a zombie or gone, and not while it still runs.
func TestKillStatusConfirmsTheProcessIsGone(t *testing.T) {
	t.Run("zombie, then reaped", func(t *testing.T) {
		cmd := sleeper(t)
		rd := inject(t, cmd, "kill", nil)
		wantStatus(t, confirmed(t, "kill", rd), true, "zombie not yet reaped (state Z)")
		_ = cmd.Wait()
		wantStatus(t, status(t, "kill", rd), true, "is gone")
	})
	t.Run("signal ignored", func(t *testing.T) {
		// An ignored signal is discarded when sent: no wait is needed to
		// know it changed nothing.
		cmd := exec.Command("sh", "-c", `trap "" TERM; exec sleep 30.0`+strconv.Itoa(os.Getpid()))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		waitExec(t, cmd.Process.Pid, "sleep")
		rd := inject(t, cmd, "kill", plugins.Params{"signal": "SIGTERM"})
		wantStatus(t, status(t, "kill", rd), false, "process "+strconv.Itoa(cmd.Process.Pid)+" still running (state ")
	})
	t.Run("pid now another process's", func(t *testing.T) {
		cmd := sleeper(t)
		rd := reused(t, cmd)
		wantStatus(t, status(t, "kill", rd), true, "its pid now belongs to another process")
		wantStatus(t, status(t, "pause", rd), false, "its pid now belongs to another process")
	})
}

// TestPauseStatusFollowsTheRealProcess: a pause is active while the
// process is stopped, and vanishes when someone else resumes or kills it.
func TestPauseStatusFollowsTheRealProcess(t *testing.T) {
	cmd := sleeper(t)
	pid := cmd.Process.Pid
	rd := inject(t, cmd, "pause", nil)
	// Right after Inject: the stop has taken effect.
	wantStatus(t, status(t, "pause", rd), true, "process "+strconv.Itoa(pid)+" stopped (state T)")

	// Resumed behind chaosctl's back: the fault vanished. SIGCONT wakes a
	// stopped process as it is sent.
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, status(t, "pause", rd), false, "running again (state ")

	// Revert leaves it running: Status says the revert held.
	rd = inject(t, cmd, "pause", nil)
	wantStatus(t, status(t, "pause", rd), true, "stopped (state T)")
	if err := New().Revert(context.Background(), "pause", rd); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, status(t, "pause", rd), false, "running again")

	// Killed while paused: gone, not paused.
	rd = inject(t, cmd, "pause", nil)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	wantStatus(t, status(t, "pause", rd), false, "process "+strconv.Itoa(pid)+" is gone")
	if err := New().Revert(context.Background(), "pause", rd); err != nil {
		t.Fatalf("revert of a pause whose process is gone: %v", err)
	}
}

func TestStatusRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		action, data, want string
	}{
		{"explode", `{"pid": 12}`, "unknown action"},
		{"kill", `{}`, "names no process"},
		{"pause", `nope`, "revert data"},
	} {
		if _, err := New().Status(context.Background(), tc.action, []byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Status(%s, %s) = %v, want an error with %q", tc.action, tc.data, err, tc.want)
		}
	}
}

// reused is revert data naming cmd's pid with another start time: the
// process it named is gone and its pid was reused.
func reused(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	ts, err := New().Targets(context.Background(), "kill", nil, plugins.Params{"pid": int64(cmd.Process.Pid)})
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := strconv.ParseInt(ts[0].Attrs["create_time"], 10, 64)
	b, _ := json.Marshal(revertData{PID: int32(cmd.Process.Pid), CreateTime: ct - 1000})
	return b
}

// waitExec waits until pid runs the program comm (after sh's exec).
func waitExec(t *testing.T, pid int, comm string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); err == nil && strings.TrimSpace(string(b)) == comm {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("process %d never ran %s", pid, comm)
}
