package runbooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/internal/procgroup"
	"github.com/chaosctl/chaosctl/scenarios"
)

const (
	// maxOutput caps the stdout (for stdout_regex) and stderr kept.
	maxOutput = 1 << 20
	// waitDelay bounds how long a finished command's pipes may be held
	// open by a child it left running (a service it started).
	waitDelay = time.Second
)

// runCommand runs the step's argv in its own process group. At the timeout
// (or when the run is aborted) the whole group is killed, so a shell's
// children go with it.
func runCommand(ctx context.Context, st scenarios.Step, _ *env) (outcome, error) {
	cmd := exec.CommandContext(ctx, st.Command[0], st.Command[1:]...)
	cmd.Dir = st.Dir
	if len(st.Env) > 0 {
		keys := make([]string, 0, len(st.Env))
		for k := range st.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		cmd.Env = os.Environ()
		for _, k := range keys {
			cmd.Env = append(cmd.Env, k+"="+st.Env[k])
		}
	}
	procgroup.Isolate(cmd, waitDelay)
	stdout, stderr := &procgroup.Capped{Max: maxOutput}, &procgroup.Capped{Max: 64 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr

	err := cmd.Run()
	out := outcome{output: tail(stdout.Last()+stderr.Last(), 2048)}
	if cmd.ProcessState == nil {
		return out, fmt.Errorf("start %s: %w", st.Command[0], unwrapExec(err))
	}
	code := cmd.ProcessState.ExitCode()
	out.detail = fmt.Sprintf("exit %d", code)
	if ctx.Err() != nil {
		// Killed with its group by cmd.Cancel.
		out.detail = cmd.ProcessState.String()
		return out, fmt.Errorf("%s killed with its process group", st.Command[0])
	}
	if code != *st.ExpectExit {
		return out, fmt.Errorf("%s: exit %d, want %d%s", st.Command[0], code, *st.ExpectExit, lastLine(stderr.Last()))
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) {
		return out, fmt.Errorf("%s: %w", st.Command[0], err)
	}
	if st.StdoutRegex != "" {
		re, err := regexp.Compile(st.StdoutRegex)
		if err != nil {
			return out, fmt.Errorf("stdout_regex: %w", err)
		}
		if !re.MatchString(stdout.String()) {
			return out, fmt.Errorf("%s: stdout does not match %q", st.Command[0], st.StdoutRegex)
		}
	}
	return out, nil
}

// unwrapExec drops exec's "exec: " prefix layers for a plainer message.
func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// tail is the last n bytes of s, trimmed.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

// lastLine is ": <last line of s>" or "".
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return ""
	}
	return ": " + tail(s, 200)
}
