// Package report renders a run's journal for people and pipelines: a
// self-contained HTML page with a timeline per SLO probe, a Markdown
// summary for the post-mortem, JUnit XML a CI stage gates on, and JSON.
// One file per format; score.go is the resilience score over many runs.
package report

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// ErrUnknownFormat is returned by Render for a format it does not know.
var ErrUnknownFormat = errors.New("unknown report format")

// renderFunc writes one format.
type renderFunc func(w io.Writer, j *journal.Journal) error

// formats is the single list of report formats.
var formats = map[string]renderFunc{
	"html":  renderHTML,
	"md":    renderMarkdown,
	"junit": renderJUnit,
	"json":  renderJSON,
}

// Formats lists the format names, sorted.
func Formats() []string {
	out := make([]string, 0, len(formats))
	for f := range formats {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// Render writes j in format.
func Render(w io.Writer, j *journal.Journal, format string) error {
	f, ok := formats[format]
	if !ok {
		return fmt.Errorf("%w %q (known: %s)", ErrUnknownFormat, format, strings.Join(Formats(), ", "))
	}
	return f(w, j)
}

// headline says in one sentence how the run ended, plainly.
func headline(j *journal.Journal) string {
	switch j.Verdict {
	case journal.Passed:
		return "PASSED: every objective was met."
	case journal.Failed:
		return "FAILED: an objective was missed."
	case journal.Aborted:
		return "ABORTED: a stop condition or the operator ended the run; faults were reverted."
	case journal.NotSteady:
		return "NOT STEADY: the service was not healthy before the experiment; nothing was injected."
	case journal.Error:
		return "ERROR: chaosctl itself failed; the results say nothing about the service."
	case journal.Interrupted:
		return "INTERRUPTED: this run did not finish. The runner stopped mid-run, faults were reverted on restart, and the figures below are incomplete: do not read them as a result."
	case journal.Running:
		return "RUNNING: this run has not finished; the figures below are incomplete."
	case journal.Inconclusive:
		return "INCONCLUSIVE: the run proves nothing either way (a fault did not take effect or vanished, every fault was skipped, or an SLO had no samples); it does not count as passed."
	}
	return strings.ToUpper(string(j.Verdict))
}

// finished reports whether the run came to a verdict of its own.
func finished(j *journal.Journal) bool {
	return j.Verdict != journal.Interrupted && j.Verdict != journal.Running
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

// recoveryText is the measured time to recover against its objective.
func recoveryText(rc *journal.Recovery) string {
	if rc == nil {
		return "not measured"
	}
	if rc.Duration == nil {
		return fmt.Sprintf("not recovered (objective %s, measured from %s)", rc.Objective, rc.MeasuredFrom)
	}
	met := "met"
	if !rc.Recovered {
		met = "missed"
	}
	out := fmt.Sprintf("%s (objective %s, from %s): %s", ms(*rc.Duration), rc.Objective, rc.MeasuredFrom, met)
	if rc.RelapsedAt != nil {
		out += fmt.Sprintf("; relapsed at +%s (SLO %s)", ms(rc.RelapsedAt.Sub(rc.From)), rc.RelapsedSLO)
	}
	return out
}

// rtoText is the runbook's measured RTO against its objective.
func rtoText(rb *journal.Runbook) string {
	if rb.TimeToRestore == nil {
		return fmt.Sprintf("not restored (objective %s)", rb.RTO)
	}
	met := "met"
	if !rb.RTOMet {
		met = "missed"
	}
	return fmt.Sprintf("%s (objective %s): %s", ms(*rb.TimeToRestore), rb.RTO, met)
}

// stepRow is one runbook step as the tables show it.
type stepRow struct {
	Stage string // before, step, data check
	journal.Step
}

func stepRows(rb *journal.Runbook) []stepRow {
	var out []stepRow
	for _, s := range rb.Before {
		out = append(out, stepRow{"before", s})
	}
	for _, s := range rb.Steps {
		out = append(out, stepRow{"step", s})
	}
	if rb.DataCheck != nil {
		out = append(out, stepRow{"data check", *rb.DataCheck})
	}
	return out
}

// stepText is a step's outcome in a few words.
func stepText(s journal.Step) string {
	switch {
	case s.Error != "":
		return s.Error
	case s.Detail != "":
		return s.Detail
	}
	return ""
}

// sloPhases are the windows the journal has SLO figures for, in order.
var sloPhases = journal.SLOPhases()

func figureText(f journal.SLOFigure, ok bool) string {
	if !ok {
		return "-"
	}
	if f.Samples == 0 {
		return "no samples"
	}
	mark := "held"
	if !f.Held {
		mark = "not held"
	}
	return fmt.Sprintf("%.2f%% ok, p99 %s (%d samples, %s)", f.Availability, f.P99.Round(100*time.Microsecond), f.Samples, mark)
}

func faultWindow(f journal.Fault) (time.Time, time.Time) {
	from := f.IntentAt
	if f.InjectedAt != nil {
		from = *f.InjectedAt
	}
	to := from
	if f.RevertedAt != nil {
		to = *f.RevertedAt
	}
	return from, to
}

func faultText(f journal.Fault) string {
	var out string
	switch {
	case f.InjectError != "":
		out = "inject failed: " + f.InjectError
	case f.RevertError != "":
		out = "REVERT FAILED: " + f.RevertError
	case f.InjectedAt != nil && f.RevertedAt != nil:
		out = fmt.Sprintf("injected for %s, reverted", ms(f.RevertedAt.Sub(*f.InjectedAt)))
	case f.InjectedAt != nil:
		out = "injected (instantaneous)"
	default:
		return "not injected"
	}
	if e := EffectText(f); e != "" {
		out += "; " + e
	}
	return out
}

// EffectText is what the fact check found of an injected fault: confirmed,
// did not take effect, not verified, vanished and reapplied. Empty when
// there was no check (the fault was never injected).
func EffectText(f journal.Fault) string {
	var parts []string
	switch f.Effect {
	case journal.EffectConfirmed:
		parts = append(parts, "effect confirmed"+paren(f.EffectDetail))
	case journal.EffectNotInEffect:
		parts = append(parts, "DID NOT TAKE EFFECT"+paren(strings.TrimPrefix(f.EffectDetail, "did not take effect: ")))
	case journal.EffectUnverified:
		parts = append(parts, f.EffectDetail)
	}
	if f.VanishedAt != nil && f.InjectedAt != nil {
		parts = append(parts, fmt.Sprintf("VANISHED %s after injection", ms(f.VanishedAt.Sub(*f.InjectedAt))))
	}
	if f.Reapplied > 0 {
		parts = append(parts, fmt.Sprintf("reapplied %d time(s)", f.Reapplied))
	}
	return strings.Join(parts, "; ")
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}
