package stress

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v3/process"

	"github.com/chaosctl/chaosctl/plugins"
)

// The test binary is the plugin executable here: re-run with WorkerArgs
// it becomes a worker, as chaosctl does.
func TestMain(m *testing.M) {
	if job := os.Getenv(WorkerEnv); job != "" {
		if err := RunWorker(context.Background(), job); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func inject(t *testing.T, action string, params plugins.Params) (*Fault, []byte, revertData) {
	t.Helper()
	f := New()
	ctx := context.Background()
	d, _ := f.Describe(ctx)
	a, _ := d.Action(action)
	for _, p := range a.Params { // what the scenario loader does
		if _, ok := params[p.Name]; !ok && p.Default != nil {
			params[p.Name] = p.Default
		}
	}
	ts, err := f.Targets(ctx, action, params, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := f.Inject(ctx, plugins.InjectRequest{Action: action, Params: params, Target: ts[0]})
	if err != nil {
		t.Fatal(err)
	}
	var rd revertData
	if err := json.Unmarshal(data, &rd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Revert(context.Background(), action, data) })
	return f, data, rd
}

// TestCPUWorkersStopOnRevert: Inject starts the workers asked for and
// Revert stops them, after which Status says the fault is gone. The CPU
// they burn is measured in test/ (TestStressTwoCPUWorkersThroughChaosctl),
// where no other package shares the machine.
func TestCPUWorkersStopOnRevert(t *testing.T) {
	f, data, rd := inject(t, "cpu", plugins.Params{"workers": int64(2), "load": 50.0})
	if len(rd.Workers) != 2 {
		t.Fatalf("%d workers, want 2", len(rd.Workers))
	}
	for _, w := range rd.Workers {
		if !alive(context.Background(), w) {
			t.Fatalf("worker %d not running once Inject returned", w.PID)
		}
	}
	if err := f.Revert(context.Background(), "cpu", data); err != nil {
		t.Fatal(err)
	}
	for _, w := range rd.Workers {
		if alive(context.Background(), w) {
			t.Errorf("worker %d alive after revert", w.PID)
		}
	}
	if st, _ := f.Status(context.Background(), "cpu", data); st.Active {
		t.Errorf("status after revert: %+v", st)
	}
}

func TestMemoryHeldAndReleased(t *testing.T) {
	f, data, rd := inject(t, "memory", plugins.Params{"mib": int64(64)})
	p, err := process.NewProcess(int32(rd.Workers[0].PID))
	if err != nil {
		t.Fatal(err)
	}
	mi, err := p.MemoryInfo()
	if err != nil {
		t.Fatal(err)
	}
	if mi.RSS < 64<<20 {
		t.Fatalf("worker RSS %d MiB, want >= 64 MiB once Inject returned", mi.RSS>>20)
	}
	if err := f.Revert(context.Background(), "memory", data); err != nil {
		t.Fatal(err)
	}
	if alive(context.Background(), rd.Workers[0]) {
		t.Fatal("worker alive after revert")
	}
}

func TestValidate(t *testing.T) {
	f := New()
	for _, tc := range []struct {
		action string
		sel    plugins.Params
		ok     bool
	}{
		{"cpu", nil, true},
		{"cpu", plugins.Params{"cgroup": "docker/abc"}, true},
		{"cpu", plugins.Params{"cgroup": "/sys/fs/cgroup/cpu"}, false},
		{"memory", plugins.Params{"cgroup": "../etc"}, false},
		{"io", nil, false},
	} {
		if err := f.Validate(context.Background(), tc.action, nil, tc.sel); (err == nil) != tc.ok {
			t.Errorf("Validate(%s, %v) = %v", tc.action, tc.sel, err)
		}
	}
	if _, err := f.Targets(context.Background(), "cpu", nil, plugins.Params{"cgroup": "chaosctl-no-such-group"}); err != plugins.ErrNoTargets {
		t.Errorf("missing cgroup: %v, want ErrNoTargets", err)
	}
}

// TestWorkersInCgroup places a memory worker in a fresh cgroup (v1) and
// checks it is listed there. Root only.
func TestWorkersInCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating a cgroup needs root")
	}
	dir := CgroupRoot + "/memory/chaosctl-test-" + fmt.Sprint(os.Getpid())
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("no cgroup v1 memory controller here: %v", err)
	}
	f := New()
	ctx := context.Background()
	sel := plugins.Params{"cgroup": dir[len(CgroupRoot+"/memory/"):]}
	ts, err := f.Targets(ctx, "memory", nil, sel)
	if err != nil {
		t.Fatal(err)
	}
	data, err := f.Inject(ctx, plugins.InjectRequest{Action: "memory", Params: plugins.Params{"mib": int64(8)}, Target: ts[0]})
	if err != nil {
		_ = os.Remove(dir)
		t.Fatal(err)
	}
	procs, _ := os.ReadFile(dir + "/cgroup.procs")
	var rd revertData
	_ = json.Unmarshal(data, &rd)
	rerr := f.Revert(ctx, "memory", data)
	time.Sleep(50 * time.Millisecond)
	if err := os.Remove(dir); err != nil {
		t.Errorf("remove cgroup: %v", err)
	}
	if rerr != nil {
		t.Fatal(rerr)
	}
	if want := fmt.Sprint(rd.Workers[0].PID); string(procs) != want+"\n" {
		t.Fatalf("cgroup.procs %q, want the worker %s", procs, want)
	}
}

// TestPreparedTokenRevertsWorkersStartedBeforeInjectReturned: revert data
// prepared before Inject finds the workers by their token, as a daemon
// restarted after a crash mid-Inject must.
func TestPreparedTokenRevertsWorkers(t *testing.T) {
	ctx := context.Background()
	f := New()
	req := plugins.InjectRequest{Action: "cpu", Params: plugins.Params{"workers": int64(2), "load": 10.0}, Target: plugins.Target{Kind: "host", ID: "host"}}
	prepared, err := f.Prepare(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	req.Prepared = prepared
	full, err := f.Inject(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var rd revertData
	if err := json.Unmarshal(full, &rd); err != nil || len(rd.Workers) != 2 {
		t.Fatalf("revert data %s", full)
	}
	// Revert with only the prepared data: no pids, just the token.
	if err := f.Revert(ctx, "cpu", prepared); err != nil {
		t.Fatal(err)
	}
	for _, w := range rd.Workers {
		if alive(ctx, w) {
			t.Fatalf("worker %d still running after a revert from prepared data", w.PID)
		}
	}
}

var (
	cpuDetail = regexp.MustCompile(`^(\d+) of (\d+) workers running, (\d+)% CPU measured over [0-9.]+m?s`)
	rssDetail = regexp.MustCompile(`^1 of 1 workers running, (\d+) MiB resident$`)
)

// TestCPUStatusCountsTheWorkers: Status counts the workers from /proc and
// reports the CPU they burn; workers stopped or killed behind the plugin's
// back show in it. The figure itself is only read here: that it is not 0
// for workers that burn CPU is checked in test/
// (TestStressTwoCPUWorkersThroughChaosctl), where no other package competes.
func TestCPUStatusCountsTheWorkers(t *testing.T) {
	ctx := context.Background()
	f, data, rd := inject(t, "cpu", plugins.Params{"workers": int64(2), "load": 10.0})
	st, err := New().Status(ctx, "cpu", data)
	if err != nil {
		t.Fatal(err)
	}
	m := cpuDetail.FindStringSubmatch(st.Detail)
	if !st.Active || m == nil || m[1] != "2" || m[2] != "2" {
		t.Fatalf("status %+v, want 2 of 2 workers running with their CPU", st)
	}

	stopped := rd.Workers[0].PID
	if err := syscall.Kill(stopped, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(stopped, syscall.SIGCONT)
	waitStopped(t, stopped)
	st, _ = New().Status(ctx, "cpu", data)
	if !st.Active || !strings.HasSuffix(st.Detail, fmt.Sprintf("; stopped (state T): %d", stopped)) {
		t.Fatalf("status %+v, want worker %d reported stopped", st, stopped)
	}

	for _, w := range rd.Workers {
		_ = syscall.Kill(w.PID, syscall.SIGKILL)
	}
	waitGone(t, rd.Workers...)
	st, _ = New().Status(ctx, "cpu", data)
	if st.Active || st.Detail != "0 of 2 workers running" {
		t.Fatalf("status %+v once the workers were killed by hand, want not active", st)
	}
	if err := f.Revert(ctx, "cpu", data); err != nil {
		t.Fatalf("revert of workers already gone: %v", err)
	}
}

func TestMemoryStatusReportsResidentMemory(t *testing.T) {
	ctx := context.Background()
	f, data, _ := inject(t, "memory", plugins.Params{"mib": int64(64)})
	st, err := New().Status(ctx, "memory", data)
	if err != nil {
		t.Fatal(err)
	}
	m := rssDetail.FindStringSubmatch(st.Detail)
	if !st.Active || m == nil {
		t.Fatalf("status %+v, want 1 of 1 workers running with its resident memory", st)
	}
	if mib, _ := strconv.Atoi(m[1]); mib < 64 {
		t.Fatalf("status %+v: a worker that touched 64 MiB holds %d MiB", st, mib)
	}
	if err := f.Revert(ctx, "memory", data); err != nil {
		t.Fatal(err)
	}
	if st, _ := New().Status(ctx, "memory", data); st.Active || st.Detail != "0 of 1 workers running" {
		t.Fatalf("status after revert %+v, want not active", st)
	}
}

// waitStopped waits until SIGSTOP took effect on pid.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	p, err := process.NewProcess(int32(pid))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := p.Status(); err == nil && len(st) > 0 && st[0] == process.Stop {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("worker %d never stopped", pid)
}

// waitGone waits until the workers are dead and reaped (by the plugin).
func waitGone(t *testing.T, ws ...worker) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, w := range ws {
		for alive(context.Background(), w) {
			if time.Now().After(deadline) {
				t.Fatalf("worker %d still alive", w.PID)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
