// Package stress is the resource stress fault: CPU (N workers at P% load)
// and memory (allocate and touch N MiB). Workers are child processes (the
// plugin's own executable re-run in worker mode), so they can be placed in
// a target cgroup, named by path or as a Docker container's (container.go),
// and die with the plugin.
package stress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shirou/gopsutil/v3/process"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/internal/lifeline"
	"github.com/chaosctl/chaosctl/plugins"
)

// WorkerEnv carries a worker's job ("cpu:50", "memory:64") to the worker
// process; WorkerArgs make the chaosctl binary run it (see RunWorker).
const WorkerEnv = "CHAOSCTL_STRESS_WORKER"

// WorkerArgs are the arguments that make the plugin's executable a worker.
var WorkerArgs = []string{"plugin", "stress-worker"}

// CgroupRoot is where cgroup v1 controllers are mounted.
const CgroupRoot = "/sys/fs/cgroup"

// Fault implements the "stress" plugin.
type Fault struct {
	mu      sync.Mutex
	workers map[int]*exec.Cmd // started by this process, reaped on exit

	engine     dockerengine.Lazy             // the container selector's
	procCgroup func(pid int) ([]byte, error) // /proc/PID/cgroup
	cgroupRoot string                        // CgroupRoot (tests: a directory of their own)
}

var (
	_ plugins.Fault    = (*Fault)(nil)
	_ plugins.Preparer = (*Fault)(nil)
)

// New returns the stress fault.
func New() *Fault {
	return &Fault{
		workers: map[int]*exec.Cmd{},
		engine:  dockerengine.Lazy{Connect: dockerengine.Connect}, procCgroup: readProcCgroup, cgroupRoot: CgroupRoot,
	}
}

// Close releases the Docker Engine connection, if any.
func (f *Fault) Close() error { return f.engine.Close() }

var selector = []plugins.Param{
	{Name: "cgroup", Type: plugins.TypeString, Doc: "cgroup (v1) path under " + CgroupRoot + "/<controller>/ to run the workers in, e.g. \"docker/<container id>\"; default: the host"},
	{Name: "container", Type: plugins.TypeString, Doc: "run the workers in the cgroup of this running Docker container (name or id), read from its init process"},
}

// Describe lists the actions.
func (*Fault) Describe(context.Context) (plugins.Descriptor, error) {
	return plugins.Descriptor{
		Name:    "stress",
		Version: "1",
		Doc:     "Burn CPU or hold memory in worker processes, on the host, in a cgroup, or in a Docker container's cgroup.",
		Actions: []plugins.Action{
			{
				Name: "cpu", Doc: "run workers that each keep one CPU busy at load percent", Reversible: true,
				Params: []plugins.Param{
					{Name: "workers", Type: plugins.TypeInt, Default: int64(1), Min: new(1.0), Max: new(256.0), Doc: "worker processes, one CPU each"},
					{Name: "load", Type: plugins.TypeFloat, Default: float64(100), Min: new(1.0), Max: new(100.0), Doc: "percent of one CPU each worker uses"},
				},
				Selector: selector,
			},
			{
				Name: "memory", Doc: "allocate and touch mib MiB in one worker process", Reversible: true,
				Params: []plugins.Param{
					{Name: "mib", Type: plugins.TypeInt, Required: true, Min: new(1.0), Max: new(float64(1 << 20)), Doc: "MiB to allocate and touch"},
				},
				Selector: selector,
			},
		},
	}, nil
}

// Validate checks the cgroup path or the container.
func (*Fault) Validate(_ context.Context, action string, _, sel plugins.Params) error {
	if action != "cpu" && action != "memory" {
		return fmt.Errorf("%w %q", plugins.ErrUnknownAction, action)
	}
	var errs []error
	if cg, ok := sel["cgroup"].(string); ok {
		if cg == "" || filepath.IsAbs(cg) || strings.Contains(cg, "..") {
			errs = append(errs, &plugins.ValidationError{Field: "target.cgroup", Msg: fmt.Sprintf("want a relative path under %s/<controller>/, got %q", CgroupRoot, cg)})
		}
	}
	if v, ok := sel["container"]; ok {
		if c, _ := v.(string); c == "" {
			errs = append(errs, &plugins.ValidationError{Field: "target.container", Msg: "want a container's name or id"})
		}
		if _, both := sel["cgroup"]; both {
			errs = append(errs, &plugins.ValidationError{Field: "target", Msg: "give cgroup or container, not both"})
		}
	}
	return errors.Join(errs...)
}

func controllers(action string) []string {
	if action == "memory" {
		return []string{"memory"}
	}
	return []string{"cpu"}
}

// Targets is the host, the cgroup when it exists for the action's
// controllers, or the container's cgroup.
func (f *Fault) Targets(ctx context.Context, action string, _ plugins.Params, sel plugins.Params) ([]plugins.Target, error) {
	if name, ok := sel["container"].(string); ok {
		t, err := f.containerTarget(ctx, action, name)
		if err != nil {
			return nil, err
		}
		return []plugins.Target{t}, nil
	}
	cg, _ := sel["cgroup"].(string)
	if cg == "" {
		h, _ := os.Hostname()
		return []plugins.Target{{Kind: "host", ID: "host", Name: h}}, nil
	}
	for _, c := range controllers(action) {
		if _, err := os.Stat(filepath.Join(f.cgroupRoot, c, cg, "cgroup.procs")); err != nil {
			return nil, plugins.ErrNoTargets
		}
	}
	return []plugins.Target{{Kind: "cgroup", ID: cg, Name: cg}}, nil
}

// worker identifies a worker process exactly.
type worker struct {
	PID        int   `json:"pid"`
	CreateTime int64 `json:"create_time"`
}

type revertData struct {
	Workers []worker `json:"workers"`
	// Token is in every worker's environment (TokenEnv), so a revert from
	// prepared data (before the workers' pids were known) finds them.
	Token string `json:"token,omitempty"`
}

// readyTimeout bounds a worker's start.
const readyTimeout = 10 * time.Second

// TokenEnv marks the workers of one injection.
const TokenEnv = "CHAOSCTL_STRESS_TOKEN"

// Prepare names the injection's token before any worker starts.
func (*Fault) Prepare(context.Context, plugins.InjectRequest) ([]byte, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return json.Marshal(revertData{Token: hex.EncodeToString(b[:])})
}

// Inject starts the workers and returns once they are effective (memory
// touched). On failure it stops the ones it started.
func (f *Fault) Inject(ctx context.Context, req plugins.InjectRequest) ([]byte, error) {
	var job string
	n := int64(1)
	switch req.Action {
	case "cpu":
		load, _ := req.Params["load"].(float64)
		if load <= 0 || load > 100 {
			return nil, fmt.Errorf("%w: load %v not in (0, 100]", plugins.ErrInvalidParams, req.Params["load"])
		}
		if w, ok := req.Params["workers"].(int64); ok {
			n = w
		}
		job = "cpu:" + strconv.FormatFloat(load, 'f', -1, 64)
	case "memory":
		mib, ok := req.Params["mib"].(int64)
		if !ok || mib < 1 {
			return nil, fmt.Errorf("%w: mib %v", plugins.ErrInvalidParams, req.Params["mib"])
		}
		job = "memory:" + strconv.FormatInt(mib, 10)
	default:
		return nil, fmt.Errorf("%w %q", plugins.ErrUnknownAction, req.Action)
	}
	cgroup := ""
	if req.Target.Kind == "cgroup" {
		cgroup = req.Target.ID
	}
	rd, err := decode(req.Prepared)
	if err != nil {
		return nil, err
	}
	if rd.Token == "" {
		prepared, _ := f.Prepare(ctx, req)
		rd, _ = decode(prepared)
	}
	for range n {
		w, err := f.start(ctx, job, rd.Token, cgroup, req.Action)
		if err != nil {
			data, _ := json.Marshal(rd)
			if rerr := f.Revert(context.WithoutCancel(ctx), req.Action, data); rerr != nil {
				// Some workers may still run: their revert data goes back
				// with the error, so the engine reverts them again.
				return data, errors.Join(err, rerr)
			}
			return nil, err
		}
		rd.Workers = append(rd.Workers, w)
	}
	return json.Marshal(rd)
}

// start runs one worker: it waits for "go" on stdin (so it can be placed
// in the cgroup first) and says "ready" on stdout once effective.
func (f *Fault) start(ctx context.Context, job, token, cgroup, action string) (worker, error) {
	exe, err := os.Executable()
	if err != nil {
		return worker{}, err
	}
	cmd := exec.Command(exe, WorkerArgs...)
	cmd.Env = append(os.Environ(), WorkerEnv+"="+job, TokenEnv+"="+token, "GOMAXPROCS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return worker{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return worker{}, err
	}
	var serr error
	lifeline.Do(func() { serr = cmd.Start() }) // Pdeathsig: see package lifeline
	if serr != nil {
		return worker{}, fmt.Errorf("start worker: %w", serr)
	}
	pid := cmd.Process.Pid
	f.mu.Lock()
	f.workers[pid] = cmd
	f.mu.Unlock()
	go func() {
		// stdin stays open for the worker's life: EOF tells it to stop.
		_ = cmd.Wait()
		f.mu.Lock()
		delete(f.workers, pid)
		f.mu.Unlock()
	}()
	ct, _ := createTime(ctx, pid)
	w := worker{PID: pid, CreateTime: ct}
	fail := func(err error) (worker, error) {
		_ = cmd.Process.Kill()
		return worker{}, err
	}
	if cgroup != "" {
		for _, c := range controllers(action) {
			procs := filepath.Join(f.cgroupRoot, c, cgroup, "cgroup.procs")
			if err := os.WriteFile(procs, []byte(strconv.Itoa(pid)), 0); err != nil {
				return fail(fmt.Errorf("place worker %d in %s: %w", pid, procs, err))
			}
		}
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		return fail(fmt.Errorf("start worker %d: %w", pid, err))
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("worker said %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			return fail(fmt.Errorf("worker %d did not start: %w", pid, err))
		}
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-time.After(readyTimeout):
		// A frozen cgroup (a paused container) never lets it start.
		return fail(fmt.Errorf("worker %d not ready after %s (is its cgroup frozen?)", pid, readyTimeout))
	}
	return w, nil
}

func createTime(ctx context.Context, pid int) (int64, error) {
	p, err := process.NewProcessWithContext(ctx, int32(pid))
	if err != nil {
		return 0, err
	}
	return p.CreateTimeWithContext(ctx)
}

// alive reports whether w still runs (a zombie does not).
func alive(ctx context.Context, w worker) bool {
	p, err := process.NewProcessWithContext(ctx, int32(w.PID))
	if err != nil {
		return false
	}
	if ct, err := p.CreateTimeWithContext(ctx); err != nil || (w.CreateTime != 0 && ct != w.CreateTime) {
		return false
	}
	st, err := p.StatusWithContext(ctx)
	if err != nil {
		return false
	}
	for _, s := range st {
		if s == process.Zombie {
			return false
		}
	}
	return true
}

func decode(data []byte) (revertData, error) {
	var rd revertData
	if len(data) == 0 {
		return rd, nil
	}
	if err := json.Unmarshal(data, &rd); err != nil {
		return rd, fmt.Errorf("revert data: %w", err)
	}
	return rd, nil
}

// Revert kills the workers and waits (up to 5s) until they are gone.
func (f *Fault) Revert(ctx context.Context, _ string, data []byte) error {
	rd, err := decode(data)
	if err != nil {
		return err
	}
	if rd.Token != "" {
		rd.Workers = append(rd.Workers, withToken(ctx, rd.Token)...)
	}
	for _, w := range rd.Workers {
		if alive(ctx, w) {
			if err := syscall.Kill(w.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("stop worker %d: %w", w.PID, err)
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []string
		for _, w := range rd.Workers {
			if alive(ctx, w) {
				left = append(left, strconv.Itoa(w.PID))
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("revert: workers %s still running", strings.Join(left, ", "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// withToken finds the workers whose environment carries token.
func withToken(ctx context.Context, token string) []worker {
	want := []byte(TokenEnv + "=" + token + "\x00")
	ents, _ := os.ReadDir("/proc")
	var out []worker
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		ct, _ := createTime(ctx, pid)
		out = append(out, worker{PID: pid, CreateTime: ct})
	}
	return out
}

// measureWindow is how long Status measures the workers' CPU use.
const measureWindow = 200 * time.Millisecond

// Status counts the workers still running, from /proc, and measures what
// they hold: for cpu the CPU they use over measureWindow, for memory their
// resident memory. Active while any worker runs: one that is still alive
// after a revert is a revert that failed.
func (f *Fault) Status(ctx context.Context, action string, data []byte) (plugins.Status, error) {
	if action != "cpu" && action != "memory" {
		return plugins.Status{}, fmt.Errorf("%w %q", plugins.ErrUnknownAction, action)
	}
	rd, err := decode(data)
	if err != nil {
		return plugins.Status{}, err
	}
	var live []*process.Process
	var stopped []string
	for _, w := range rd.Workers {
		if !alive(ctx, w) {
			continue
		}
		p, err := process.NewProcessWithContext(ctx, int32(w.PID))
		if err != nil {
			continue // gone since
		}
		live = append(live, p)
		if st, err := p.StatusWithContext(ctx); err == nil && len(st) > 0 && st[0] == process.Stop {
			stopped = append(stopped, strconv.Itoa(w.PID))
		}
	}
	detail := fmt.Sprintf("%d of %d workers running", len(live), len(rd.Workers))
	if len(live) > 0 {
		var m string
		if action == "cpu" {
			m, err = measureCPU(ctx, live)
		} else {
			m, err = measureRSS(ctx, live)
		}
		if err != nil {
			return plugins.Status{}, fmt.Errorf("status of %s stress: %w", action, err)
		}
		detail += ", " + m
	}
	if len(stopped) > 0 {
		detail += fmt.Sprintf("; stopped (state T): %s", strings.Join(stopped, ", "))
	}
	return plugins.Status{Active: len(live) > 0, Detail: detail}, nil
}

// measureCPU is the CPU the workers use, summed, over measureWindow, in
// percent of one CPU: their user and system time from /proc/PID/stat.
// A worker that exits meanwhile counts for what it used before.
func measureCPU(ctx context.Context, ps []*process.Process) (string, error) {
	cpu := func() float64 {
		var sum float64
		for _, p := range ps {
			if t, err := p.TimesWithContext(ctx); err == nil {
				sum += t.User + t.System
			}
		}
		return sum
	}
	c0, t0 := cpu(), time.Now()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(measureWindow):
	}
	c1, el := cpu(), time.Since(t0)
	pct := max(0, c1-c0) / el.Seconds() * 100
	return fmt.Sprintf("%.0f%% CPU measured over %s", pct, el.Round(10*time.Millisecond)), nil
}

// measureRSS is the workers' resident memory, summed.
func measureRSS(ctx context.Context, ps []*process.Process) (string, error) {
	var rss uint64
	for _, p := range ps {
		if mi, err := p.MemoryInfoWithContext(ctx); err == nil {
			rss += mi.RSS
		}
	}
	return fmt.Sprintf("%d MiB resident", rss>>20), nil
}
