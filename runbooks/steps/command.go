package steps

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chaosctl/chaosctl/internal/procgroup"
)

func init() {
	register(Kind{
		Name:         KindCommand,
		Keys:         []string{"command", "env", "dir", "expect_exit", "stdout_regex"},
		Spec:         commandStep{},
		RunsCommands: true,
	})
}

// waitDelay bounds how long a finished command's pipes may be held open by
// a child it left running (a service it started).
const waitDelay = time.Second

// commandStep runs a program, with the cmd probe's keys, checks and judgement
// (procgroup.Spec).
type commandStep struct{}

var _ Spec = commandStep{}

func commandSpec(st Step) procgroup.Spec {
	return procgroup.Spec{Argv: st.Command, Env: st.Env, Dir: st.Dir, ExpectExit: st.ExpectExit, StdoutRegex: st.StdoutRegex}
}

func (commandStep) Validate(st *Step, _ Refs) []FieldError {
	var errs []FieldError
	for _, p := range commandSpec(*st).Problems(`["cp", "backup.db", "data.db"]`) {
		errs = append(errs, FieldError{Field: p.Key, Msg: p.Msg})
	}
	return errs
}

// Run runs the step's argv in its own process group. At the timeout (or
// when the run is aborted) the whole group is killed, so a shell's
// children go with it; once the step exits, what it started (a service it
// restarts) keeps running.
func (commandStep) Run(ctx context.Context, st Step, _ Env) (Outcome, error) {
	expect, err := commandSpec(st).Expect()
	if err != nil {
		return Outcome{}, err
	}
	res, err := procgroup.Run(ctx, procgroup.Command{
		Argv: st.Command, Env: st.Env, Dir: st.Dir, WaitDelay: waitDelay,
		StdoutMax: maxOutput, StderrMax: 64 << 10, KeepChildren: true,
	})
	out := Outcome{Detail: res.State, Output: tail(res.Stdout.Last()+res.Stderr.Last(), outputTail)}
	switch {
	case errors.Is(err, procgroup.ErrKilled):
		return out, fmt.Errorf("%s %w", st.Command[0], procgroup.ErrKilled)
	case err != nil && res.State == "":
		return out, err // did not start
	}
	if res.Code >= 0 {
		out.Detail = fmt.Sprintf("exit %d", res.Code)
	}
	if jerr := expect.Judge(res); jerr != nil {
		return out, fmt.Errorf("%s: %w", st.Command[0], jerr)
	}
	return out, err
}
