package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
)

// reachableDaemon finds the daemon `run` should use: the one the flags
// name (an error if it does not answer) or one on the default socket.
func reachableDaemon(ctx context.Context, cf clientFlags) (*api.Client, bool, error) {
	c, err := cf.client()
	if err != nil {
		return nil, false, err
	}
	if err := c.Ping(ctx); err != nil {
		if cf.explicit() {
			return nil, false, apiErr(err)
		}
		return nil, false, nil
	}
	return c, true, nil
}

// runRemote runs file in the daemon and renders it exactly as a local run:
// the same live progress from the same events, the same summary, the same
// exit code. Ctrl-C aborts the run in the daemon and waits for its revert.
func runRemote(ctx context.Context, e *env, c *api.Client, file string, f runFlags) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return withCode(ExitInvalid, fmt.Errorf("load scenario: %w", err))
	}
	res, err := c.Start(ctx, api.StartRequest{File: file, Content: string(data), DryRun: f.dryRun})
	if err != nil {
		var ae *api.APIError
		if errors.As(err, &ae) && len(ae.Errors) > 0 {
			for _, m := range ae.Errors {
				fmt.Fprintln(e.stderr, m)
			}
			return withCode(ExitInvalid, ae)
		}
		return withCode(ExitError, fmt.Errorf("daemon at %s refused the run: %w", c.Where(), err))
	}
	log := e.log.With().Str("run_id", res.RunID).Str("scenario", res.Scenario).Logger()
	if e.tty && !e.logLevelSet {
		log = log.Level(zerolog.WarnLevel)
	}
	log.Info().Str("daemon", c.Where()).Msg("run started in the daemon")
	obs, stop := newProgress(e, nil)

	// Keep streaming after Ctrl-C: the abort ends the run and the stream
	// brings its verdict once the faults are reverted.
	bg := context.WithoutCancel(ctx)
	stopAbort := context.AfterFunc(ctx, func() {
		if err := c.Abort(bg, res.RunID); err != nil {
			log.Warn().Err(err).Msg("abort")
		}
	})
	defer stopAbort()
	serr := c.Events(bg, res.RunID, func(ev experiments.Event) {
		obs(ev)
		logRemoteEvent(log, ev)
	})
	stop()
	if serr != nil {
		log.Warn().Err(serr).Msg("event stream ended early; waiting for the verdict")
	}
	var j *journal.Journal
	for deadline := time.Now().Add(time.Hour); ; {
		j, err = c.Run(bg, res.RunID)
		if err != nil {
			return withCode(ExitError, fmt.Errorf("run %s: %w", res.RunID, err))
		}
		if j.Verdict != journal.Running || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	path := f.journal
	if path == "" {
		path = filepath.Join(f.journalDir, res.RunID+".json")
	}
	if err := journal.Write(path, j); err != nil {
		printResult(e, j, "")
		return withCode(ExitError, err)
	}
	printResult(e, j, path)
	return withCode(j.Verdict.ExitCode(), nil)
}

// logRemoteEvent writes the lines the engine's own log writes in a local
// run, from the daemon's events.
func logRemoteEvent(log zerolog.Logger, ev experiments.Event) {
	switch ev.Kind {
	case experiments.EventPhase:
		log.Info().Str("phase", string(ev.Phase)).Msg("phase")
	case experiments.EventMessage:
		log.Info().Msg(ev.Message)
	case experiments.EventFault:
		f := ev.Fault
		l := log.With().Str("fault", f.Name).Str("target", f.Target.String()).Logger()
		switch {
		case f.InjectError != "":
			l.Error().Str("error", f.InjectError).Msg("inject failed")
		case f.RevertError != "":
			l.Error().Str("error", f.RevertError).Msg("revert failed")
		case f.RevertedAt != nil:
			l.Info().Msg("reverted")
		case f.InjectedAt != nil:
			l.Info().Msg("injected")
		}
	case experiments.EventVerdict:
		ev2 := log.Info()
		if ev.Verdict != journal.Passed {
			ev2 = log.Warn()
		}
		ev2.Str("verdict", string(ev.Verdict)).Strs("reasons", ev.Reasons).Msg("verdict")
	}
}
