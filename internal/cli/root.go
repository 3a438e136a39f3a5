// Package cli is the chaosctl command line: one file per command.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Exit codes that are not verdicts (see journal.Verdict.ExitCode).
const (
	ExitOK      = 0
	ExitInvalid = 2 // usage error or invalid scenario
	ExitError   = 5 // the runner itself failed
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// withCode wraps err so Execute exits with code. A nil err exits quietly.
func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// Version is set at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

// env is what every command shares.
type env struct {
	stdout, stderr io.Writer
	output         string // text or json
	logLevel       string
	logLevelSet    bool // --log-level was given
	log            zerolog.Logger
	tty            bool             // stderr is a terminal: live progress
	hangup         <-chan os.Signal // the process's SIGHUPs; nil: none are delivered
}

// Option configures Execute.
type Option func(*env)

// WithHangup hands Execute the channel the process's SIGHUPs arrive on
// (signal.Notify(ch, syscall.SIGHUP)). The daemon reloads on each; every
// other command ends as on SIGTERM: a run aborts and reverts its faults,
// since the terminal it ran in went away.
func WithHangup(ch <-chan os.Signal) Option { return func(e *env) { e.hangup = ch } }

// ErrHangup is the cause of a command's context ended by SIGHUP.
var ErrHangup = errors.New("hangup (SIGHUP)")

// onHangup, as a command's annotation, says what SIGHUP does to it; absent,
// it cancels the command's context.
const (
	onHangup       = "on-sighup"
	onHangupReload = "reload"
)

// cancelOnHangup is ctx, cancelled (cause ErrHangup) by the first SIGHUP.
func cancelOnHangup(ctx context.Context, hup <-chan os.Signal) context.Context {
	if hup == nil {
		return ctx
	}
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-hup:
			cancel(ErrHangup)
		case <-ctx.Done():
		}
	}()
	return ctx
}

// Execute runs the command line and returns the process exit code.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer, opts ...Option) int {
	e := &env{stdout: stdout, stderr: stderr}
	for _, o := range opts {
		o(e)
	}
	root := &cobra.Command{
		Use:           "chaosctl",
		Short:         "Replay post-mortems as chaos experiments and measure recovery",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if e.output != "text" && e.output != "json" {
				return withCode(ExitInvalid, fmt.Errorf("--output must be text or json, not %q", e.output))
			}
			e.logLevelSet = cmd.Flags().Changed("log-level")
			lvl, err := zerolog.ParseLevel(e.logLevel)
			if err != nil {
				return withCode(ExitInvalid, fmt.Errorf("--log-level: %w", err))
			}
			if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				e.tty = true
			}
			var w io.Writer = stderr
			if e.tty {
				w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.TimeOnly}
			}
			e.log = zerolog.New(w).Level(lvl).With().Timestamp().Logger()
			if err := kubeFlags(cmd); err != nil {
				return withCode(ExitInvalid, err)
			}
			// Decided once the command is known: a SIGHUP that arrived
			// earlier waits in the channel and is handled here.
			if cmd.Annotations[onHangup] != onHangupReload {
				cmd.SetContext(cancelOnHangup(cmd.Context(), e.hangup))
			}
			return nil
		},
	}
	root.PersistentFlags().StringVarP(&e.output, "output", "o", "text", "output format: text or json")
	root.PersistentFlags().StringVar(&e.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().String("kubeconfig", "", "kubeconfig for Kubernetes faults and probes (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
	root.PersistentFlags().String("context", "", "kubeconfig context for Kubernetes faults and probes (default: the current context)")
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newRunCmd(e),
		newRecoverCmd(e),
		newValidateCmd(e),
		newVersionCmd(e),
		newDaemonCmd(e),
		newListCmd(e),
		newStatusCmd(e),
		newHistoryCmd(e),
		newAbortCmd(e),
		newHaltCmd(e),
		newResumeCmd(e),
		newFaultsCmd(e),
		newReportCmd(e),
		newPluginsCmd(e),
		newPluginCmd(e),
		newProxyCmd(e),
		newUICmd(e),
	)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var xe *exitError
	if errors.As(err, &xe) {
		if xe.err != nil {
			fmt.Fprintln(stderr, "chaosctl:", xe.err)
		}
		return xe.code
	}
	// cobra's own errors: unknown command or flag, wrong argument count.
	fmt.Fprintln(stderr, "chaosctl:", err)
	return ExitInvalid
}
