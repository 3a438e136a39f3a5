package runbooks

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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
// children go with it; once the step exits, what it started (a service it
// restarts) keeps running.
func runCommand(ctx context.Context, st scenarios.Step, _ *env) (outcome, error) {
	res, err := procgroup.Run(ctx, procgroup.Command{
		Argv: st.Command, Env: st.Env, Dir: st.Dir, WaitDelay: waitDelay,
		StdoutMax: maxOutput, StderrMax: 64 << 10, KeepChildren: true,
	})
	out := outcome{output: tail(res.Stdout.Last()+res.Stderr.Last(), 2048)}
	switch {
	case errors.Is(err, procgroup.ErrKilled):
		out.detail = res.State
		return out, fmt.Errorf("%s killed with its process group", st.Command[0])
	case err != nil && res.State == "":
		return out, err // did not start
	}
	out.detail = fmt.Sprintf("exit %d", res.Code)
	if res.Code != *st.ExpectExit {
		return out, fmt.Errorf("%s: exit %d, want %d%s", st.Command[0], res.Code, *st.ExpectExit, lastLine(res.Stderr.Last()))
	}
	if err != nil {
		return out, err
	}
	if st.StdoutRegex != "" {
		re, err := regexp.Compile(st.StdoutRegex)
		if err != nil {
			return out, fmt.Errorf("stdout_regex: %w", err)
		}
		if !re.MatchString(res.Stdout.String()) {
			return out, fmt.Errorf("%s: stdout does not match %q", st.Command[0], st.StdoutRegex)
		}
	}
	return out, nil
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
