package process

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
)

// sleepEnv makes the test binary sleep (see TestMain): a process whose
// argv can be anything, e.g. "chaosctl daemon".
const sleepEnv = "CHAOSCTL_PROCESS_TEST_SLEEP"

func TestMain(m *testing.M) {
	if os.Getenv(sleepEnv) == "1" {
		time.Sleep(30 * time.Second)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

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

// TestValidateSelector: a pid no process can have here, or an empty
// command line regular expression, is refused naming the field.
func TestValidateSelector(t *testing.T) {
	max := pidMax()
	for _, tc := range []struct {
		sel  plugins.Params
		want string // the error, "" for none
	}{
		{plugins.Params{"pid": max - 1}, ""},
		{plugins.Params{"pid": max}, "target.pid: " + strconv.FormatInt(max, 10) + " is above this system's largest process id " + strconv.FormatInt(max-1, 10)},
		{plugins.Params{"pid": int64(1) << 40}, "target.pid: 1099511627776 is above this system's largest process id"},
		{plugins.Params{"pid": "12"}, "target.pid: must be an integer"},
		{plugins.Params{"cmdline": ""}, "target.cmdline: must not be empty: it would match every process"},
		{plugins.Params{"cmdline": "("}, "target.cmdline: not a regular expression"},
		{plugins.Params{"cmdline": "^nginx"}, ""},
	} {
		err := New().Validate(context.Background(), "kill", nil, tc.sel)
		var ve *plugins.ValidationError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Validate(%v) = %v", tc.sel, err)
		case tc.want != "" && (!errors.As(err, &ve) || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("Validate(%v) = %v, want a *ValidationError %q", tc.sel, err, tc.want)
		}
	}
}

// TestTargetsRefusesPidAboveMax: 2^32 + pid used to be truncated to 32
// bits, selecting (and signalling) the process pid.
func TestTargetsRefusesPidAboveMax(t *testing.T) {
	cmd := sleeper(t)
	for _, sel := range []plugins.Params{
		{"pid": int64(1)<<32 + int64(cmd.Process.Pid)},
		{"cmdline": ""},
	} {
		ts, err := New().Targets(context.Background(), "kill", nil, sel)
		var ve *plugins.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("Targets(%v) = %+v, %v: want a *ValidationError", sel, ts, err)
		}
	}
}

// TestNeverTargetsChaosctlServices: a running `chaosctl daemon` or
// `chaosctl proxy` is never a target, whatever the selector.
func TestNeverTargetsChaosctlServices(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	mark := "chaosctl-test-" + strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		argv     []string
		targeted bool
	}{
		{[]string{"chaosctl", "daemon", mark}, false},
		{[]string{"/usr/local/bin/chaosctl", "proxy", mark}, false},
		{[]string{"chaosctl", "run", mark}, true},
		{[]string{"chaosctld", "daemon", mark}, true},
		{[]string{"chaosctl", "--log-level=debug", "daemon", mark}, true}, // argv[1] only: see chaosctlService
	} {
		t.Run(strings.Join(tc.argv, " "), func(t *testing.T) {
			cmd := &exec.Cmd{Path: exe, Args: tc.argv, Env: append(os.Environ(), sleepEnv+"=1")}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			sel := plugins.Params{"cmdline": "^" + regexp.QuoteMeta(strings.Join(tc.argv, " ")) + "$"}
			var ts []plugins.Target
			deadline := time.Now().Add(5 * time.Second)
			for {
				ts, err = New().Targets(context.Background(), "kill", nil, sel)
				if len(ts) > 0 || err != nil && strings.Contains(err.Error(), "never targets") || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond) // until the child's argv is its own
			}
			if tc.targeted {
				if len(ts) != 1 || ts[0].ID != strconv.Itoa(cmd.Process.Pid) {
					t.Fatalf("targets %+v, %v: want pid %d", ts, err, cmd.Process.Pid)
				}
				return
			}
			if !errors.Is(err, plugins.ErrNoTargets) || !strings.Contains(err.Error(), strconv.Itoa(cmd.Process.Pid)+" (a chaosctl "+tc.argv[1]+")") {
				t.Fatalf("targets %+v, %v: a chaosctl %s was selected", ts, err, tc.argv[1])
			}
		})
	}
}

func TestSharedCgroup(t *testing.T) {
	const (
		v2Service = "0::/system.slice/chaosctl.service\n"
		v2Other   = "0::/system.slice/nginx.service\n"
		v2Root    = "0::/\n"
		// Docker on cgroup v1 without a cgroup namespace: chaosctl's container.
		v1Docker = "12:memory:/docker/abc\n1:name=systemd:/docker/abc\n0::/docker/abc\n"
		v1Host   = "12:memory:/system.slice/x.service\n1:name=systemd:/system.slice/x.service\n0::/system.slice/x.service\n"
		// A runner that puts each job in a memory cgroup of its own: the
		// service identity is "/", every process the job starts shares it.
		v1Job = "9:name=systemd:/\n4:memory:/process_api/42\n0::/\n"
		// cgroup v1 without systemd.
		v1Bare      = "4:memory:/job\n3:cpu:/job\n"
		v1BareOther = "4:memory:/job\n3:cpu:/\n"
	)
	for _, tc := range []struct {
		name, self, other, want string
	}{
		{"same v2 service", v2Service, v2Service, "/system.slice/chaosctl.service"},
		{"other v2 service", v2Service, v2Other, ""},
		{"both at the root of a cgroup namespace", v2Root, v2Root, ""},
		{"same container on v1", v1Docker, v1Docker, "/docker/abc"},
		{"container and host on v1", v1Docker, v1Host, ""},
		{"one job's resource cgroup is no identity", v1Job, v1Job, ""},
		{"v1 without systemd, all hierarchies equal", v1Bare, v1Bare, "/job"},
		{"v1 without systemd, one differs", v1Bare, v1BareOther, ""},
		{"unreadable", v2Service, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			self, other := parseCgroup([]byte(tc.self)), parseCgroup([]byte(tc.other))
			if got := self.shared(other); got != tc.want {
				t.Fatalf("shared = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestNeverTargetsOwnCgroup moves this test process into a fresh cgroup
// of systemd's named hierarchy (it carries no resource controller, so the
// move changes nothing else) and checks that a process started there is
// not a target, and one outside still is. Root and cgroup v1 only.
func TestNeverTargetsOwnCgroup(t *testing.T) {
	const root = "/sys/fs/cgroup/systemd"
	if os.Geteuid() != 0 {
		t.Skip("moving a process between cgroups needs root")
	}
	orig := parseCgroup(mustRead(t, "/proc/self/cgroup"))
	var key string
	for _, k := range orig.identity() {
		if strings.HasSuffix(k, ":name=systemd") {
			key = k
		}
	}
	if key == "" {
		t.Skip("no cgroup v1 name=systemd hierarchy here")
	}
	outside := sleeper(t)
	dir := filepath.Join(root, "chaosctl-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot create a cgroup: %v", err)
	}
	back := filepath.Join(root, orig[key], "cgroup.procs")
	t.Cleanup(func() {
		if err := os.WriteFile(back, []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			t.Errorf("move back to %s: %v", back, err)
		}
		// The inside sleeper is reaped by its own cleanup, which ran first.
		if err := os.Remove(dir); err != nil {
			t.Errorf("remove cgroup %s: %v", dir, err)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		t.Fatalf("join %s: %v", dir, err)
	}
	inside := exec.Command("sleep", "30.1"+strconv.Itoa(os.Getpid()))
	if err := inside.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inside.Process.Kill(); _ = inside.Wait() })

	ts, err := New().Targets(context.Background(), "kill", nil, plugins.Params{"pid": int64(inside.Process.Pid)})
	if !errors.Is(err, plugins.ErrNoTargets) || !strings.Contains(err.Error(), "in chaosctl's own cgroup /"+filepath.Base(dir)) {
		t.Fatalf("targets %+v, %v: a process in chaosctl's own cgroup was selected", ts, err)
	}
	ts, err = New().Targets(context.Background(), "kill", nil, plugins.Params{"pid": int64(outside.Process.Pid)})
	if err != nil || len(ts) != 1 {
		t.Fatalf("targets %+v, %v: a process outside chaosctl's cgroup was refused", ts, err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
