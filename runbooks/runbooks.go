// Package runbooks executes a scenario's disaster-recovery runbook: the
// before steps ahead of the disaster, the steps that restore service after
// it, then the objectives: every SLO restored within the RTO, and the data
// check. What each kind of step does is in runbooks/steps, one file per
// kind, in the registry scenario validation reads too.
package runbooks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/runbooks/steps"
	"github.com/chaosctl/chaosctl/scenarios"
	"github.com/chaosctl/chaosctl/slo"
)

// ErrTimeout is the cause of a step stopped at its timeout.
var ErrTimeout = errors.New("timed out")

// Runner runs runbooks; its Before and Restore are the engine's
// experiments.Options.RunbookBefore and Runbook (runbooks_test.go checks
// they are experiments.RunbookFuncs).
type Runner struct {
	Log zerolog.Logger
}

func record(j *journal.Journal, sc *scenarios.Scenario) *journal.Runbook {
	if j.Runbook == nil {
		j.Runbook = &journal.Runbook{RTO: sc.Runbook.RTO.Duration, Steps: []journal.Step{}, Failures: []string{}}
	}
	return j.Runbook
}

// Before runs the before steps. A failed one (whatever its on_failure: the
// disaster must not follow a failed backup) fails the run before any fault.
func (r *Runner) Before(ctx context.Context, sc *scenarios.Scenario, j *journal.Journal, samples slo.Samples) ([]string, error) {
	rb := record(j, sc)
	e := &env{sc: sc, samples: samples}
	steps, failures := r.steps(ctx, "before", sc.Runbook.Before, e)
	rb.Before = steps
	if len(failures) > 0 {
		rb.Failures = append(rb.Failures, failures...)
	}
	return failures, ctx.Err()
}

// Restore runs the steps, waits for every SLO to be restored (up to the
// RTO), runs the data check and judges the runbook. It returns why the
// runbook failed, if it did.
func (r *Runner) Restore(ctx context.Context, sc *scenarios.Scenario, j *journal.Journal, samples slo.Samples) ([]string, error) {
	rb := record(j, sc)
	e := &env{sc: sc, samples: samples, disasterAt: disasterAt(j), lastFault: j.LastFaultEvent()}
	rb.DisasterAt = e.disasterAt
	steps, failures := r.steps(ctx, "step", sc.Runbook.Steps, e)
	rb.Steps = steps
	if ctx.Err() != nil {
		return failures, ctx.Err()
	}

	at, pending := r.restored(ctx, e)
	if ctx.Err() != nil {
		return failures, ctx.Err()
	}
	if len(pending) == 0 {
		ttr := at.Sub(e.disasterAt)
		rb.RestoredAt, rb.TimeToRestore = &at, &ttr
		rb.RTOMet = ttr <= rb.RTO
		if !rb.RTOMet {
			failures = append(failures, fmt.Sprintf("runbook: service restored after %s, over the RTO of %s", ttr.Round(time.Millisecond), rb.RTO))
		}
	} else {
		failures = append(failures, fmt.Sprintf("runbook: SLO %v not restored within the RTO of %s after the disaster", pending, rb.RTO))
	}

	if dc := sc.Runbook.DataCheck; dc != nil {
		var s journal.Step
		if len(pending) > 0 {
			s = journal.Step{Name: dc.Name, Kind: dc.Kind, Status: journal.StepSkipped, Error: "service was not restored"}
		} else {
			s = r.step(ctx, *dc, e)
		}
		rb.DataCheck = &s
		if s.Status != journal.StepOK {
			failures = append(failures, fmt.Sprintf("runbook: data check %s failed: %s", s.Name, s.Error))
		}
	}
	rb.Failures = append(rb.Failures, failures...)
	rb.Passed = len(rb.Failures) == 0
	return failures, ctx.Err()
}

// steps runs steps in order; after a failed step whose on_failure is
// "abort" the rest are skipped.
func (r *Runner) steps(ctx context.Context, what string, list []scenarios.Step, e *env) ([]journal.Step, []string) {
	out := make([]journal.Step, 0, len(list))
	var failures []string
	aborted := ""
	for _, st := range list {
		if aborted != "" || ctx.Err() != nil {
			reason := "skipped: step " + aborted + " failed"
			if aborted == "" {
				reason = "skipped: run aborted"
			}
			out = append(out, journal.Step{Name: st.Name, Kind: st.Kind, OnFailure: st.OnFailure, Status: journal.StepSkipped, Error: reason})
			continue
		}
		s := r.step(ctx, st, e)
		out = append(out, s)
		if s.Status == journal.StepFailed {
			failures = append(failures, fmt.Sprintf("runbook %s %s failed: %s", what, st.Name, s.Error))
			if st.OnFailure != "continue" {
				aborted = st.Name
			}
		}
	}
	return out, failures
}

// step runs one step under its timeout and records its outcome.
func (r *Runner) step(ctx context.Context, st scenarios.Step, e *env) journal.Step {
	s := journal.Step{Name: st.Name, Kind: st.Kind, OnFailure: st.OnFailure, Started: time.Now()}
	kind, err := steps.Lookup(st.Kind)
	if err != nil {
		s.Status, s.Error = journal.StepFailed, err.Error()
		return s
	}
	sctx, cancel := context.WithTimeoutCause(ctx, st.Timeout.Duration, ErrTimeout)
	out, err := kind.Spec.Run(sctx, st, e)
	cancel()
	s.Duration = time.Since(s.Started)
	s.Detail, s.Output = out.Detail, out.Output
	log := r.Log.With().Str("step", st.Name).Str("kind", st.Kind).Dur("took", s.Duration).Logger()
	if err != nil {
		if errors.Is(context.Cause(sctx), ErrTimeout) && ctx.Err() == nil && !errors.Is(err, ErrTimeout) {
			err = fmt.Errorf("%w after %s: %w", ErrTimeout, st.Timeout.Duration, err)
		}
		s.Status, s.Error = journal.StepFailed, err.Error()
		log.Warn().Err(err).Msg("runbook step failed")
		return s
	}
	s.Status = journal.StepOK
	log.Info().Str("detail", s.Detail).Msg("runbook step ok")
	return s
}

// restored waits until every SLO has held for hold_for since the disaster,
// or until the RTO (plus hold_for and the slowest probe's timeout, so that
// in-flight samples land) has passed. It returns the instant of
// restoration, or the SLOs still not restored.
func (r *Runner) restored(ctx context.Context, e *env) (time.Time, []string) {
	return slo.AwaitRecovery(ctx, e.sc, e.samples, e.disasterAt, e.lastFault, e.sc.Runbook.RTO.Duration)
}

// disasterAt is when the first fault was about to be injected, or now when
// there is none.
func disasterAt(j *journal.Journal) time.Time {
	var at time.Time
	for _, f := range j.Faults {
		if !f.IntentAt.IsZero() && (at.IsZero() || f.IntentAt.Before(at)) {
			at = f.IntentAt
		}
	}
	if at.IsZero() {
		for _, p := range j.Phases {
			if p.Name == journal.PhaseInject {
				return p.Started
			}
		}
		return time.Now()
	}
	return at
}
