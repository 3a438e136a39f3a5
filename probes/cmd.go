package probes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chaosctl/chaosctl/internal/procgroup"
)

func init() {
	register(Kind{
		Name:         "cmd",
		Doc:          "Run a command; ok when it exits with expect_exit and stdout matches stdout_regex. Value: exit code.",
		NewSpec:      func() Spec { return &CmdSpec{} },
		RunsCommands: true,
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

// command is the spec as the shared command runner takes it: the command
// step of a runbook declares, checks and judges its command the same way.
func (s *CmdSpec) command() procgroup.Spec {
	return procgroup.Spec{Argv: s.Command, Env: s.Env, Dir: s.Dir, ExpectExit: s.ExpectExit, StdoutRegex: s.StdoutRegex}
}

// Validate reports every problem with the spec.
func (s *CmdSpec) Validate() []FieldError {
	var errs []FieldError
	for _, p := range s.command().Problems(`["pg_isready", "-h", "db"]`) {
		errs = append(errs, FieldError{Field: p.Key, Msg: p.Msg})
	}
	return errs
}

// Build returns the prober.
func (s *CmdSpec) Build(name string) (Prober, error) {
	if err := validated(name, s.Validate()); err != nil {
		return nil, err
	}
	expect, err := s.command().Expect()
	if err != nil {
		return nil, fmt.Errorf("probe %s: %w", name, err) // validated above: not reached
	}
	return &cmdProber{name: name, spec: *s, expect: expect}, nil
}

type cmdProber struct {
	name   string
	spec   CmdSpec
	expect procgroup.Expect
}

var _ Prober = (*cmdProber)(nil)

func (p *cmdProber) Probe(ctx context.Context) Sample {
	return measure(ctx, p.name, p.attempt)
}

func (p *cmdProber) attempt(ctx context.Context) (float64, error) {
	c := procgroup.Command{Argv: p.spec.Command, Env: p.spec.Env, Dir: p.spec.Dir, WaitDelay: cmdWaitDelay, StderrMax: 4096}
	if p.expect.Stdout != nil {
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
	return float64(res.Code), p.expect.Judge(res)
}
