// Package process is the host process fault: signal processes matched by
// name, command line, pid or pidfile. "kill" sends a signal once (SIGKILL by
// default); "pause" sends SIGSTOP and, on revert, SIGCONT.
package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shirou/gopsutil/v3/process"
	"golang.org/x/sys/unix"

	"github.com/chaosctl/chaosctl/plugins"
)

// Fault implements the "process" plugin.
type Fault struct{}

var (
	_ plugins.Fault    = (*Fault)(nil)
	_ plugins.Preparer = (*Fault)(nil)
)

// New returns the process fault.
func New() *Fault { return &Fault{} }

var selector = []plugins.Param{
	{Name: "name", Type: plugins.TypeString, Doc: "exact process name (comm), e.g. \"nginx\""},
	{Name: "cmdline", Type: plugins.TypeString, Doc: "regular expression over the full command line"},
	{Name: "pid", Type: plugins.TypeInt, Doc: "one process id", Min: new(2.0)},
	{Name: "pidfile", Type: plugins.TypeString, Doc: "file holding the process id"},
}

// Describe lists the actions.
func (*Fault) Describe(context.Context) (plugins.Descriptor, error) {
	return plugins.Descriptor{
		Name:    "process",
		Version: "1",
		Doc:     "Signal host processes matched by name, command line, pid or pidfile.",
		Actions: []plugins.Action{
			{
				Name: "kill", Doc: "send a signal once (a crash when SIGKILL); nothing to revert",
				Params: []plugins.Param{
					plugins.SignalParam,
				},
				Selector: selector,
			},
			{
				Name: "pause", Doc: "SIGSTOP the process for the fault's duration, SIGCONT on revert",
				Reversible: true, Selector: selector,
			},
		},
	}, nil
}

// Validate checks that exactly one selector is given and that it is well formed.
func (*Fault) Validate(_ context.Context, action string, params, sel plugins.Params) error {
	if action != "kill" && action != "pause" {
		return fmt.Errorf("%w %q", plugins.ErrUnknownAction, action)
	}
	var errs []error
	n := 0
	for _, k := range []string{"name", "cmdline", "pid", "pidfile"} {
		if _, ok := sel[k]; ok {
			n++
		}
	}
	if n != 1 {
		errs = append(errs, &plugins.ValidationError{Field: "target", Msg: "give exactly one of name, cmdline, pid, pidfile"})
	}
	if err := checkCmdline(sel); err != nil {
		errs = append(errs, err)
	}
	if v, ok := sel["pid"]; ok {
		if pid, ok := v.(int64); !ok {
			errs = append(errs, &plugins.ValidationError{Field: "target.pid", Msg: "must be an integer"})
		} else if err := checkPid(pid); err != nil {
			errs = append(errs, err)
		}
	}
	if s, ok := params["signal"].(string); ok && action == "kill" {
		if _, err := signalNumber(s); err != nil {
			errs = append(errs, err) // a *plugins.ValidationError on params.signal
		}
	}
	return errors.Join(errs...)
}

// checkCmdline compiles the cmdline selector; an empty one would match
// every process.
func checkCmdline(sel plugins.Params) error {
	v, ok := sel["cmdline"]
	if !ok {
		return nil
	}
	s, _ := v.(string)
	if s == "" {
		return &plugins.ValidationError{Field: "target.cmdline", Msg: "must not be empty: it would match every process"}
	}
	if _, err := regexp.Compile(s); err != nil {
		return &plugins.ValidationError{Field: "target.cmdline", Msg: "not a regular expression: " + err.Error()}
	}
	return nil
}

func signalNumber(name string) (syscall.Signal, error) {
	_, num, err := plugins.ParseSignal(name)
	return num, err
}

// Targets resolves the selector to running processes. chaosctl itself,
// its ancestors, its helpers (plugins, stress workers), any `chaosctl
// daemon` or `chaosctl proxy`, and any process in chaosctl's own service
// or container cgroup are never targets.
func (*Fault) Targets(ctx context.Context, _ string, _ plugins.Params, sel plugins.Params) ([]plugins.Target, error) {
	pids, err := match(ctx, sel)
	if err != nil {
		return nil, err
	}
	protect := newProtection()
	var out []plugins.Target
	var skipped []string
	for _, pid := range pids {
		if why := protect.why(pid); why != "" {
			skipped = append(skipped, fmt.Sprintf("%d (%s)", pid, why))
			continue
		}
		p, err := process.NewProcessWithContext(ctx, pid)
		if err != nil {
			continue // gone since listing
		}
		name, _ := p.NameWithContext(ctx)
		ct, _ := p.CreateTimeWithContext(ctx)
		out = append(out, plugins.Target{
			Kind: "process", ID: strconv.Itoa(int(pid)), Name: name,
			Attrs: map[string]string{"create_time": strconv.FormatInt(ct, 10)},
		})
	}
	if len(out) == 0 && len(skipped) > 0 {
		if len(skipped) > 3 {
			skipped = append(skipped[:3], fmt.Sprintf("and %d more", len(skipped)-3))
		}
		return nil, fmt.Errorf("%w: chaosctl never targets its own processes: %s", plugins.ErrNoTargets, strings.Join(skipped, ", "))
	}
	if len(out) == 0 {
		return nil, plugins.ErrNoTargets
	}
	return out, nil
}

func match(ctx context.Context, sel plugins.Params) ([]int32, error) {
	switch {
	case sel["pid"] != nil:
		pid, ok := sel["pid"].(int64)
		if !ok {
			return nil, &plugins.ValidationError{Field: "target.pid", Msg: "must be an integer"}
		}
		if err := checkPid(pid); err != nil {
			return nil, err
		}
		if exists, _ := process.PidExistsWithContext(ctx, int32(pid)); !exists {
			return nil, nil
		}
		return []int32{int32(pid)}, nil
	case sel["pidfile"] != nil:
		path, _ := sel["pidfile"].(string)
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read pidfile: %w", err)
		}
		pid, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || pid < 2 {
			return nil, fmt.Errorf("pidfile %s: no process id in it", path)
		}
		if pid >= pidMax() {
			return nil, fmt.Errorf("pidfile %s: %d is above this system's largest process id %d", path, pid, pidMax()-1)
		}
		if exists, _ := process.PidExistsWithContext(ctx, int32(pid)); !exists {
			return nil, nil
		}
		return []int32{int32(pid)}, nil
	}
	var re *regexp.Regexp
	name, _ := sel["name"].(string)
	if s, ok := sel["cmdline"].(string); ok {
		if err := checkCmdline(sel); err != nil {
			return nil, err
		}
		re = regexp.MustCompile(s)
	}
	procs, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []int32
	for _, p := range procs {
		if re != nil {
			cl, err := p.CmdlineWithContext(ctx)
			if err == nil && cl != "" && re.MatchString(cl) {
				out = append(out, p.Pid)
			}
			continue
		}
		if n, err := p.NameWithContext(ctx); err == nil && n == name {
			out = append(out, p.Pid)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// chaosctlHelper reports whether pid is one of chaosctl's own helper
// processes (a plugin, a stress worker): pausing one would hang the run.
func chaosctlHelper(pid int32) bool {
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	for _, v := range strings.Split(string(env), "\x00") {
		if strings.HasPrefix(v, plugins.Handshake.MagicCookieKey+"=") || strings.HasPrefix(v, "CHAOSCTL_STRESS_WORKER=") {
			return true
		}
	}
	return false
}

// ancestors is chaosctl's own pid and every parent up to init.
func ancestors() map[int32]bool {
	out := map[int32]bool{1: true}
	pid := int32(os.Getpid())
	for pid > 1 && !out[pid] {
		out[pid] = true
		p, err := process.NewProcess(pid)
		if err != nil {
			break
		}
		pp, err := p.Ppid()
		if err != nil {
			break
		}
		pid = pp
	}
	return out
}

// revertData identifies the process exactly: a pid and its start time, so
// a reused pid is never signalled.
type revertData struct {
	PID        int32 `json:"pid"`
	CreateTime int64 `json:"create_time"`
}

// Prepare names the process exactly (pid and start time): resuming it is
// the revert of a pause, harmless if the pause never happened.
func (*Fault) Prepare(_ context.Context, req plugins.InjectRequest) ([]byte, error) {
	pid, err := strconv.Atoi(req.Target.ID)
	if err != nil {
		return nil, fmt.Errorf("target %s: not a process id", req.Target)
	}
	ct, _ := strconv.ParseInt(req.Target.Attrs["create_time"], 10, 64)
	return json.Marshal(revertData{PID: int32(pid), CreateTime: ct})
}

// Inject signals the target.
func (f *Fault) Inject(ctx context.Context, req plugins.InjectRequest) ([]byte, error) {
	rd, err := f.Prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	pid, _ := strconv.Atoi(req.Target.ID)
	ct, _ := strconv.ParseInt(req.Target.Attrs["create_time"], 10, 64)
	if err := sameProcess(ctx, int32(pid), ct); err != nil {
		return nil, err
	}
	sig := syscall.SIGSTOP
	if req.Action == "kill" {
		name, _ := req.Params["signal"].(string)
		if name == "" {
			name = "SIGKILL"
		}
		if sig, err = signalNumber(name); err != nil {
			return nil, fmt.Errorf("%w: %w", plugins.ErrInvalidParams, err)
		}
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return nil, fmt.Errorf("send %s to %d: %w", unix.SignalName(sig), pid, err)
	}
	if req.Action == "pause" {
		// SIGSTOP takes effect when the target next runs, after kill
		// returned: wait for it, so that Status right after Inject sees
		// the stop. A process that does not stop in time (in
		// uninterruptible sleep) is left to Status to report.
		_, _ = waitState(ctx, revertData{PID: int32(pid), CreateTime: ct}, settleTimeout, func(o observed) bool { return o.gone || o.stopped() })
	}
	return rd, nil
}

// settleTimeout bounds the wait for a signal to take effect.
const settleTimeout = 2 * time.Second

// sameProcess fails when pid no longer is the process created at ct.
func sameProcess(ctx context.Context, pid int32, ct int64) error {
	p, err := process.NewProcessWithContext(ctx, pid)
	if err != nil {
		return fmt.Errorf("process %d: %w", pid, err)
	}
	if ct != 0 {
		if got, err := p.CreateTimeWithContext(ctx); err == nil && got != ct {
			return fmt.Errorf("process %d was replaced since it was selected", pid)
		}
	}
	return nil
}

// Revert resumes a paused process and waits until it is no longer
// stopped. A process that is gone, or was replaced, needs nothing.
func (*Fault) Revert(ctx context.Context, action string, data []byte) error {
	if action != "pause" || len(data) == 0 {
		return nil
	}
	rd, err := decode(data)
	if err != nil {
		return err
	}
	if err := sameProcess(ctx, rd.PID, rd.CreateTime); err != nil {
		return nil // gone: nothing is paused any more
	}
	if err := syscall.Kill(int(rd.PID), syscall.SIGCONT); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGCONT %d: %w", rd.PID, err)
	}
	o, err := waitState(ctx, rd, settleTimeout, func(o observed) bool { return o.gone || !o.stopped() })
	if err != nil {
		return fmt.Errorf("resume %d: %w", rd.PID, err)
	}
	if !o.gone && o.stopped() {
		return fmt.Errorf("process %d still stopped (state %c) %s after SIGCONT (traced by a debugger?)", rd.PID, o.state, settleTimeout)
	}
	return nil
}

func decode(data []byte) (revertData, error) {
	var rd revertData
	if err := json.Unmarshal(data, &rd); err != nil {
		return rd, fmt.Errorf("revert data: %w", err)
	}
	if rd.PID < 1 {
		return rd, fmt.Errorf("revert data names no process (pid %d)", rd.PID)
	}
	return rd, nil
}

// Status reads the process's state from /proc. kill: Active when its
// effect is confirmed, that is the process is gone or a zombie (killed,
// not yet reaped by its parent). pause: Active while it is stopped.
func (*Fault) Status(ctx context.Context, action string, data []byte) (plugins.Status, error) {
	if action != "kill" && action != "pause" {
		return plugins.Status{}, fmt.Errorf("%w %q", plugins.ErrUnknownAction, action)
	}
	rd, err := decode(data)
	if err != nil {
		return plugins.Status{}, err
	}
	o, err := observe(ctx, rd)
	if err != nil {
		return plugins.Status{}, fmt.Errorf("status of %s on process %d: %w", action, rd.PID, err)
	}
	if action == "kill" {
		switch {
		case o.gone:
			return plugins.Status{Active: true, Detail: o.String()}, nil
		case o.state == 'Z':
			return plugins.Status{Active: true, Detail: fmt.Sprintf("process %d killed, a zombie not yet reaped (state Z)", rd.PID)}, nil
		}
		return plugins.Status{Detail: fmt.Sprintf("process %d still running (state %c)", rd.PID, o.state)}, nil
	}
	switch {
	case o.gone:
		return plugins.Status{Detail: o.String()}, nil
	case o.stopped():
		return plugins.Status{Active: true, Detail: fmt.Sprintf("process %d stopped (state %c)", rd.PID, o.state)}, nil
	case o.state == 'Z':
		return plugins.Status{Detail: fmt.Sprintf("process %d exited, a zombie (state Z)", rd.PID)}, nil
	}
	return plugins.Status{Detail: fmt.Sprintf("process %d running again (state %c)", rd.PID, o.state)}, nil
}
