package procgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"time"
)

// Command is one command that chaosctl runs for a probe or a runbook step:
// its argv (no shell unless it runs one), its environment on top of
// chaosctl's, its working directory.
type Command struct {
	Argv      []string
	Env       map[string]string // added to (or overriding) chaosctl's environment
	Dir       string
	WaitDelay time.Duration // how long Wait lingers for pipes a stray child holds open
	StdoutMax int           // first bytes of stdout kept for matching; 0: stdout is discarded
	StderrMax int
	// KeepChildren leaves what the command started running after it exits
	// (a runbook step that starts a service); otherwise the whole group is
	// killed once the command exits, so that nothing is left behind.
	KeepChildren bool
}

// Result is how a command ended.
type Result struct {
	Code           int    // exit code; -1 when killed by a signal
	State          string // as os.ProcessState says it ("signal: killed")
	Stdout, Stderr *Capped
}

// ErrKilled: the command was killed with its process group because its
// context ended (a timeout, an abort).
var ErrKilled = errors.New("killed with its process group")

// Env is os.Environ() with env added in a stable order (later entries win
// in exec), or nil (inherit) when env is empty.
func Env(env map[string]string) []string {
	if len(env) == 0 {
		return nil
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := os.Environ()
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}

// Run runs c in its own process group. When ctx ends the whole group is
// killed and the error is ErrKilled. Any exit code is a Result, not an
// error: the caller judges it. An error is a command that did not start
// (its exec error unwrapped) or a failed Wait; a stray child holding a pipe
// open after the command exited (exec.ErrWaitDelay) is not one.
func Run(ctx context.Context, c Command) (Result, error) {
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Env = Env(c.Env)
	cmd.Dir = c.Dir
	Isolate(cmd, c.WaitDelay)
	res := Result{Code: -1, Stdout: &Capped{Max: c.StdoutMax}, Stderr: &Capped{Max: c.StderrMax}}
	if c.StdoutMax > 0 {
		cmd.Stdout = res.Stdout
	}
	cmd.Stderr = res.Stderr
	err := cmd.Run()
	if cmd.Process != nil && !c.KeepChildren {
		_ = Kill(cmd) // children still running in the group; ESRCH (none left) is fine
	}
	if cmd.ProcessState == nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			err = ee.Err
		}
		return res, fmt.Errorf("start %s: %w", c.Argv[0], err)
	}
	res.Code, res.State = cmd.ProcessState.ExitCode(), cmd.ProcessState.String()
	if ctx.Err() != nil {
		return res, fmt.Errorf("%s %w: %w", c.Argv[0], ErrKilled, ctx.Err())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) {
		return res, fmt.Errorf("%s: %w", c.Argv[0], err)
	}
	return res, nil
}
