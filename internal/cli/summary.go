package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/report"
)

// summary renders a journal for people: verdict first, then why.
func summary(j *journal.Journal, path string) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	pm := ""
	if j.Postmortem.ID != "" {
		pm = " (replays " + j.Postmortem.ID + ")"
	}
	fmt.Fprintf(w, "scenario\t%s%s\n", j.Scenario, pm)
	fmt.Fprintf(w, "run\t%s\n", j.RunID)
	fmt.Fprintf(w, "verdict\t%s\n", strings.ToUpper(string(j.Verdict)))
	for _, r := range j.Reasons {
		fmt.Fprintf(w, "  reason\t%s\n", r)
	}
	if j.DryRun {
		for _, f := range j.Faults {
			fmt.Fprintf(w, "would hit\t%s %s.%s -> %s\n", f.Name, f.Plugin, f.Action, f.Target)
		}
	}
	if rc := j.Recovery; rc != nil {
		if rc.Duration != nil {
			fmt.Fprintf(w, "recovery\t%s (objective %s, from %s)\n", rc.Duration.Round(time.Millisecond), rc.Objective, rc.MeasuredFrom)
			if rc.RelapsedAt != nil {
				fmt.Fprintf(w, "relapse\tSLO %s broke again at +%s\n", rc.RelapsedSLO, rc.RelapsedAt.Sub(rc.From).Round(time.Millisecond))
			}
		} else {
			fmt.Fprintf(w, "recovery\tnot recovered (objective %s, from %s)\n", rc.Objective, rc.MeasuredFrom)
		}
	}
	for _, s := range j.SLOs {
		fmt.Fprintf(w, "slo %s\t%s\n", s.Name, s.Objective)
		for _, ph := range journal.SLOPhases() {
			f, ok := s.Phases[ph]
			if !ok {
				continue
			}
			if f.Samples == 0 {
				fmt.Fprintf(w, "  %s\tno samples\n", ph)
				continue
			}
			mark := "held"
			if !f.Held {
				mark = "not held"
			}
			fmt.Fprintf(w, "  %s\t%6.2f%% ok  p50 %s  p99 %s  (%d samples, %s)\n", ph, f.Availability,
				f.P50.Round(time.Microsecond*100), f.P99.Round(time.Microsecond*100), f.Samples, mark)
		}
	}
	if !j.DryRun {
		for _, f := range j.Faults {
			state := "not injected"
			switch {
			case f.InjectError != "":
				state = "inject failed: " + f.InjectError
			case f.RevertError != "":
				state = "REVERT FAILED: " + f.RevertError
			case f.RevertedAt != nil && f.InjectedAt != nil:
				state = fmt.Sprintf("injected for %s, reverted", f.RevertedAt.Sub(*f.InjectedAt).Round(time.Millisecond))
			case f.InjectedAt != nil:
				state = "injected " + f.InjectedAt.Format("15:04:05.000")
			}
			if e := report.EffectText(f); e != "" {
				state += "; " + e
			}
			fmt.Fprintf(w, "fault %s\t%s.%s on %s: %s\n", f.Name, f.Plugin, f.Action, f.Target, state)
		}
	}
	if rb := j.Runbook; rb != nil {
		runbookSummary(w, rb)
	}
	if path != "" {
		fmt.Fprintf(w, "journal\t%s\n", path)
	}
	w.Flush()
	return b.String()
}

func runbookSummary(w io.Writer, rb *journal.Runbook) {
	verdict := "PASSED"
	if !rb.Passed {
		verdict = "FAILED"
	}
	rto := "not restored"
	if rb.TimeToRestore != nil {
		rto = "restored in " + rb.TimeToRestore.Round(time.Millisecond).String()
	}
	fmt.Fprintf(w, "runbook\t%s: %s (RTO %s)\n", verdict, rto, rb.RTO)
	steps := append(append([]journal.Step{}, rb.Before...), rb.Steps...)
	if rb.DataCheck != nil {
		steps = append(steps, *rb.DataCheck)
	}
	for _, s := range steps {
		line := fmt.Sprintf("%s in %s", s.Status, s.Duration.Round(time.Millisecond))
		if s.Error != "" {
			line += ": " + s.Error
		} else if s.Detail != "" {
			line += " (" + s.Detail + ")"
		}
		fmt.Fprintf(w, "  step %s\t%s\n", s.Name, line)
	}
}
