package probes

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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
	return p, nil
}

type cmdProber struct {
	name     string
	spec     CmdSpec
	stdoutRe *regexp.Regexp
}

var _ Prober = (*cmdProber)(nil)

func (p *cmdProber) Probe(ctx context.Context) Sample {
	return measure(ctx, p.name, p.attempt)
}

func (p *cmdProber) attempt(ctx context.Context) (float64, error) {
	c := procgroup.Command{Argv: p.spec.Command, Env: p.spec.Env, Dir: p.spec.Dir, WaitDelay: cmdWaitDelay, StderrMax: 4096}
	if p.stdoutRe != nil {
		c.StdoutMax = maxOutput
	}
	// Its own process group, killed whole on ctx done and after it exits:
	// a shell's children (a backgrounded "&" job) are not left behind.
	res, err := procgroup.Run(ctx, c)
	switch {
	case errors.Is(err, procgroup.ErrKilled):
		return float64(res.Code), ctx.Err()
	case err != nil:
		return float64(res.Code), err
	}
	if res.Code != p.spec.ExpectExit {
		if res.Code == -1 {
			return -1, fmt.Errorf("%s%s", res.State, res.Stderr.Tail())
		}
		return float64(res.Code), fmt.Errorf("exit %d, want %d%s", res.Code, p.spec.ExpectExit, res.Stderr.Tail())
	}
	if p.stdoutRe != nil && !p.stdoutRe.Match(res.Stdout.Bytes()) {
		return float64(res.Code), fmt.Errorf("stdout does not match %q", p.spec.StdoutRegex)
	}
	return float64(res.Code), nil
}
