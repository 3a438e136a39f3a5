package probes

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
)

func init() {
	register(Kind{
		Name:    "cmd",
		Doc:     "Run a command; ok when it exits with expect_exit and stdout matches stdout_regex. Value: exit code.",
		NewSpec: func() Spec { return &CmdSpec{} },
	})
}

const (
	// maxOutput caps how much stdout (for stdout_regex) and stderr (for the
	// failure reason) is kept.
	maxOutput = 1 << 20
	// cmdWaitDelay bounds how long Wait lingers for pipes held open by
	// stray children once the command has exited or been killed.
	cmdWaitDelay = 500 * time.Millisecond
)

// CmdSpec is the "cmd" probe: run a command, check its exit code and output.
type CmdSpec struct {
	Command     []string          `toml:"command"`      // required, argv; no shell unless you run one
	Env         map[string]string `toml:"env"`          // added to (or overriding) chaosctl's environment
	Dir         string            `toml:"dir"`          // working directory; default chaosctl's
	ExpectExit  int               `toml:"expect_exit"`  // default 0
	StdoutRegex string            `toml:"stdout_regex"` // Go regexp matched against the first 1 MiB of stdout
}

// Validate reports every problem with the spec.
func (s *CmdSpec) Validate() []FieldError {
	var errs []FieldError
	if len(s.Command) == 0 || s.Command[0] == "" {
		errs = append(errs, FieldError{Field: "command", Msg: "required: the program and its arguments, e.g. [\"pg_isready\", \"-h\", \"db\"]"})
	}
	for k := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			errs = append(errs, FieldError{Field: "env", Msg: fmt.Sprintf("bad variable name %q", k)})
		}
	}
	if s.ExpectExit < 0 || s.ExpectExit > 255 {
		errs = append(errs, FieldError{Field: "expect_exit", Msg: fmt.Sprintf("%d is not an exit code (0..255)", s.ExpectExit)})
	}
	if s.StdoutRegex != "" {
		if _, err := regexp.Compile(s.StdoutRegex); err != nil {
			errs = append(errs, FieldError{Field: "stdout_regex", Msg: "bad regexp: " + err.Error()})
		}
	}
	return errs
}

// Build returns the prober.
func (s *CmdSpec) Build(name string) (Prober, error) {
	if err := validated(name, s.Validate()); err != nil {
		return nil, err
	}
	p := &cmdProber{name: name, spec: *s}
	if s.StdoutRegex != "" {
		p.stdoutRe = regexp.MustCompile(s.StdoutRegex) // validated above
	}
	if len(s.Env) > 0 {
		keys := make([]string, 0, len(s.Env))
		for k := range s.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		env := os.Environ()
		for _, k := range keys {
			env = append(env, k+"="+s.Env[k]) // later entries win in exec
		}
		p.env = env
	}
	return p, nil
}

type cmdProber struct {
	name     string
	spec     CmdSpec
	env      []string // nil: inherit
	stdoutRe *regexp.Regexp
}

var _ Prober = (*cmdProber)(nil)

func (p *cmdProber) Probe(ctx context.Context) Sample {
	return measure(ctx, p.name, p.attempt)
}

func (p *cmdProber) attempt(ctx context.Context) (float64, error) {
	cmd := exec.CommandContext(ctx, p.spec.Command[0], p.spec.Command[1:]...)
	cmd.Env = p.env
	cmd.Dir = p.spec.Dir
	// Its own process group, so that on ctx done the whole tree is killed,
	// not just the direct child (a shell would leave its children behind).
	procgroup.Isolate(cmd, cmdWaitDelay)
	stdout, stderr := &procgroup.Capped{Max: maxOutput}, &procgroup.Capped{Max: 4096}
	if p.stdoutRe != nil {
		cmd.Stdout = stdout
	}
	cmd.Stderr = stderr

	err := cmd.Run()
	if cmd.Process != nil {
		// Leave nothing behind: children still running in the group (a
		// backgrounded "&" job) are killed too. ESRCH (none left) is fine.
		_ = procgroup.Kill(cmd)
	}
	if cmd.ProcessState == nil { // never started
		return -1, err
	}
	code := cmd.ProcessState.ExitCode() // -1 when killed by a signal
	if ctx.Err() != nil {
		return float64(code), ctx.Err()
	}
	if code != p.spec.ExpectExit {
		if code == -1 {
			return -1, fmt.Errorf("%v%s", cmd.ProcessState, stderr.Tail())
		}
		return float64(code), fmt.Errorf("exit %d, want %d%s", code, p.spec.ExpectExit, stderr.Tail())
	}
	// An *exec.ExitError is the exit code judged above; exec.ErrWaitDelay
	// means a stray child held a pipe open after the command exited: the
	// command itself answered, and the child was killed with its group.
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) {
		return float64(code), err
	}
	if p.stdoutRe != nil && !p.stdoutRe.Match(stdout.Bytes()) {
		return float64(code), fmt.Errorf("stdout does not match %q", p.spec.StdoutRegex)
	}
	return float64(code), nil
}
