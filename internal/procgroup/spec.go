package procgroup

import (
	"fmt"
	"regexp"
	"strings"
)

// Spec is a command as a scenario declares it. The cmd probe and the
// runbook command step take the same keys (command, env, dir, expect_exit,
// stdout_regex), so they are checked and judged here, once.
type Spec struct {
	Argv        []string          // key command
	Env         map[string]string // key env
	Dir         string            // key dir
	ExpectExit  int               // key expect_exit
	StdoutRegex string            // key stdout_regex
}

// Problem is one wrong key of a Spec, named by its TOML key.
type Problem struct {
	Key string
	Msg string
}

// Problems lists every problem with s. example is an argv shown when the
// command is missing, e.g. `["pg_isready", "-h", "db"]`.
func (s Spec) Problems(example string) []Problem {
	var out []Problem
	if len(s.Argv) == 0 || s.Argv[0] == "" {
		out = append(out, Problem{"command", "required: the program and its arguments, e.g. " + example})
	}
	for k := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			out = append(out, Problem{"env", fmt.Sprintf("bad variable name %q", k)})
		}
	}
	if s.ExpectExit < 0 || s.ExpectExit > 255 {
		out = append(out, Problem{"expect_exit", fmt.Sprintf("%d is not an exit code (0..255)", s.ExpectExit)})
	}
	if s.StdoutRegex != "" {
		if _, err := regexp.Compile(s.StdoutRegex); err != nil {
			out = append(out, Problem{"stdout_regex", "bad regexp: " + err.Error()})
		}
	}
	return out
}

// Expect compiles what success means for s. Its error is a bad
// stdout_regex, which Problems reports first.
func (s Spec) Expect() (Expect, error) {
	e := Expect{Exit: s.ExpectExit}
	if s.StdoutRegex != "" {
		re, err := regexp.Compile(s.StdoutRegex)
		if err != nil {
			return Expect{}, fmt.Errorf("stdout_regex: %w", err)
		}
		e.Stdout = re
	}
	return e, nil
}

// Expect is what success means for a command that ran: its exit code and,
// when set, a regexp over the stdout kept (Command.StdoutMax).
type Expect struct {
	Exit   int
	Stdout *regexp.Regexp
}

// Judge returns nil when res exited with e.Exit and its stdout matches, or
// else why not, ending with the last line of stderr: the failure in the
// command's own words.
func (e Expect) Judge(res Result) error {
	switch {
	case res.Code == e.Exit:
	case res.Code == -1:
		return fmt.Errorf("%s%s", res.State, res.Stderr.Tail())
	default:
		return fmt.Errorf("exit %d, want %d%s", res.Code, e.Exit, res.Stderr.Tail())
	}
	if e.Stdout != nil && !e.Stdout.Match(res.Stdout.Bytes()) {
		return fmt.Errorf("stdout does not match %q", e.Stdout.String())
	}
	return nil
}
