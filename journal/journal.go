// Package journal is the record of one run: what was injected where and
// when, every probe sample, the SLO figures per phase and the verdict.
// It is written as JSON and read back by reports and the daemon.
package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/probes"
)

// FormatVersion is the journal schema version.
const FormatVersion = 1

// Verdict is the outcome of a run.
type Verdict string

const (
	Passed      Verdict = "passed"      // every objective met
	Failed      Verdict = "failed"      // an SLO missed or service not recovered in time
	Aborted     Verdict = "aborted"     // a stop condition or the operator ended it
	NotSteady   Verdict = "not-steady"  // steady state did not hold; nothing injected
	Error       Verdict = "error"       // the runner itself failed
	Interrupted Verdict = "interrupted" // the runner died mid-run; faults reverted on restart
	// Inconclusive: the run proves nothing either way. Every fault was
	// skipped, a fault did not take effect or vanished, or an SLO had no
	// samples in a window it is judged on. It never counts as passed.
	Inconclusive Verdict = "inconclusive"
	Running      Verdict = "running" // not finished
)

// ExitCode is the process exit code `chaosctl run` uses for a verdict.
// 2 is reserved for invalid input (usage, invalid scenario).
func (v Verdict) ExitCode() int {
	switch v {
	case Passed:
		return 0
	case Failed:
		return 1
	case NotSteady:
		return 3
	case Aborted:
		return 4
	case Interrupted:
		return 6
	case Inconclusive:
		return 7
	default:
		return 5
	}
}

// PhaseName names a stretch of a run: the one vocabulary of the journal
// (Phase.Name, SLOResult.Phases), the engine's events, a run's status on
// the API, the terminal's live line, the dashboard and the reports.
type PhaseName string

// The phases a run goes through, in order (Journal.Phases).
const (
	PhasePreflight     PhaseName = "preflight"
	PhaseSteady        PhaseName = "steady"
	PhaseRunbookBefore PhaseName = "runbook-before" // the runbook's before steps
	PhaseInject        PhaseName = "inject"
	PhaseObserve       PhaseName = "observe"
	PhaseRunbook       PhaseName = "runbook" // the runbook's steps, after the faults
	PhaseRecovery      PhaseName = "recovery"
	PhaseVerdict       PhaseName = "verdict"
)

// The windows an SLO has figures for after PhaseSteady (SLOResult.Phases).
// They are cut by the faults and the recovery instant, not by the phases
// above, and are never in Journal.Phases.
const (
	PhaseFault      PhaseName = "fault"      // faults in effect: first injection to last revert
	PhaseRecovering PhaseName = "recovering" // last revert to the recovery instant (or the end, when not recovered)
	PhaseRecovered  PhaseName = "recovered"  // the recovery instant to the end of the run
)

// SLOPhases are the phases an SLO has figures for, in order: PhaseSteady
// and the windows after it.
func SLOPhases() []PhaseName {
	return []PhaseName{PhaseSteady, PhaseFault, PhaseRecovering, PhaseRecovered}
}

// Journal is one run.
type Journal struct {
	Format       int               `json:"format"`
	RunID        string            `json:"run_id"`
	Scenario     string            `json:"scenario"`
	ScenarioPath string            `json:"scenario_path"`
	ScenarioHash string            `json:"scenario_hash"`
	Postmortem   Postmortem        `json:"postmortem"`
	DryRun       bool              `json:"dry_run,omitempty"`
	StartedAt    time.Time         `json:"started_at"`
	EndedAt      time.Time         `json:"ended_at"`
	Phases       []Phase           `json:"phases"`
	Faults       []Fault           `json:"faults"`
	Samples      []probes.Sample   `json:"samples"`
	SLOs         []SLOResult       `json:"slos"`
	Recovery     *Recovery         `json:"recovery,omitempty"`
	Runbook      *Runbook          `json:"runbook,omitempty"`
	Verdict      Verdict           `json:"verdict"`
	Reasons      []string          `json:"reasons"`
	Labels       map[string]string `json:"labels,omitempty"`

	// A long run's journal keeps its samples thinned (see Thinner): then
	// SamplesTotal is how many were recorded, SampleResolution the width of
	// the buckets they were thinned to, and SampleLog the file that has
	// every one of them (see SampleLog). All zero when Samples is complete,
	// except in the journal of a run that died, which names the log its
	// samples were read back from (AdoptSampleLog).
	SamplesTotal     int           `json:"samples_total,omitempty"`
	SampleResolution time.Duration `json:"sample_resolution_ns,omitempty"`
	SampleLog        string        `json:"sample_log,omitempty"`

	// Load is each load probe's requests per interval (see LoadSeries):
	// counts and latency percentiles that a thinned journal's samples no
	// longer give. Empty without a load probe.
	Load []LoadSeries `json:"load,omitempty"`
}

// Postmortem is the incident the run replays.
type Postmortem struct {
	ID      string `json:"id,omitempty"`
	URL     string `json:"url,omitempty"`
	Date    string `json:"date,omitempty"`
	Summary string `json:"summary,omitempty"`
}

// Phase is when a phase started and ended.
type Phase struct {
	Name    PhaseName `json:"name"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
}

// Fault is one injection into one target.
type Fault struct {
	ID          string         `json:"id"` // unique within the run
	Name        string         `json:"name"`
	Plugin      string         `json:"plugin"`
	Action      string         `json:"action"`
	Target      plugins.Target `json:"target"`
	Params      plugins.Params `json:"params,omitempty"`
	IntentAt    time.Time      `json:"intent_at"`
	InjectedAt  *time.Time     `json:"injected_at,omitempty"`
	InjectError string         `json:"inject_error,omitempty"`
	RevertData  []byte         `json:"revert_data,omitempty"`
	RevertedAt  *time.Time     `json:"reverted_at,omitempty"`
	RevertError string         `json:"revert_error,omitempty"`
	Notes       []string       `json:"notes,omitempty"` // plugin restarts, reverts after a crash
	// The fact check: what the plugin's Status said of the fault.
	Effect       string     `json:"effect,omitempty"`        // EffectConfirmed, EffectNotInEffect, EffectUnverified
	EffectDetail string     `json:"effect_detail,omitempty"` // the plugin's words, or why it could not be verified
	VanishedAt   *time.Time `json:"vanished_at,omitempty"`   // the fault was found gone while it was held
	Reapplied    int        `json:"reapplied,omitempty"`     // times it was re-injected after vanishing (reapply = true)
	ReappliedAt  *time.Time `json:"reapplied_at,omitempty"`  // the last re-injection
	Checks       []Check    `json:"checks,omitempty"`
}

// Fact-check outcomes of a fault (Fault.Effect).
const (
	EffectConfirmed   = "confirmed"     // Status said the fault is in effect (or, instantaneous, that it bit)
	EffectNotInEffect = "not-in-effect" // Status said it is not: the fault did not take effect
	EffectUnverified  = "not-verified"  // Status could not tell: unimplemented, an error, no answer in time
)

// Fact-check stages (Check.Stage).
const (
	CheckConfirm = "confirm" // right after Inject
	CheckHold    = "hold"    // while the fault is held, about once a second
	CheckRevert  = "revert"  // after Revert: active means the revert failed
)

// Check is one answer of a plugin's Status, or several identical ones in a
// row folded together (Repeat, Until).
type Check struct {
	Time   time.Time  `json:"time"`
	Stage  string     `json:"stage"`
	Active bool       `json:"active"`
	Detail string     `json:"detail,omitempty"`
	Error  string     `json:"error,omitempty"` // Status failed or did not answer: nothing is known
	Repeat int        `json:"repeat,omitempty"`
	Until  *time.Time `json:"until,omitempty"`
}

// LastFaultEvent is the last instant a fault of j was injected, re-injected
// or reverted: recovery is judged after it. Zero when nothing was injected.
func (j *Journal) LastFaultEvent() time.Time {
	var at time.Time
	for _, f := range j.Faults {
		for _, t := range []*time.Time{f.InjectedAt, f.ReappliedAt, f.RevertedAt} {
			if t != nil && t.After(at) {
				at = *t
			}
		}
	}
	return at
}

// SLOResult is one SLO's figures in each phase.
type SLOResult struct {
	Name       string                  `json:"name"`
	Probe      string                  `json:"probe"`
	Objective  string                  `json:"objective"` // "availability >= 99% and p99 < 300ms over 5s"
	Phases     map[PhaseName]SLOFigure `json:"phases"`    // see SLOPhases
	Held       bool                    `json:"held"`      // the objective held wherever it had to
	BreachedAt *time.Time              `json:"breached_at,omitempty"`
	// The latency objective, for charts: p<LatencyPercentile> < LatencyMax.
	LatencyPercentile float64       `json:"latency_percentile,omitempty"`
	LatencyMax        time.Duration `json:"latency_max_ns,omitempty"`
}

// SLOFigure summarises samples in one phase.
type SLOFigure struct {
	Samples      int           `json:"samples"`
	Availability float64       `json:"availability_pct"`
	P50          time.Duration `json:"p50_ns"`
	P95          time.Duration `json:"p95_ns"`
	P99          time.Duration `json:"p99_ns"`
	Held         bool          `json:"held"`
}

// Recovery is the measured time to recover.
type Recovery struct {
	MeasuredFrom string         `json:"measured_from"` // "inject" or "revert"
	From         time.Time      `json:"from"`
	RecoveredAt  *time.Time     `json:"recovered_at,omitempty"`
	Duration     *time.Duration `json:"duration_ns,omitempty"`
	Objective    time.Duration  `json:"objective_ns"`
	Recovered    bool           `json:"recovered"` // within the objective
	// LastFaultAt is the last fault event: recovery is only judged on hold
	// windows that reach past it, and confirmed hold_for after it.
	LastFaultAt time.Time  `json:"last_fault_at,omitzero"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"` // every SLO held for hold_for from RecoveredAt and the last fault event
	// ObservedUntil is the end of the relapse watch (observe_after past ConfirmedAt).
	ObservedUntil *time.Time `json:"observed_until,omitempty"`
	RelapsedAt    *time.Time `json:"relapsed_at,omitempty"` // an SLO broke again after recovery was confirmed
	RelapsedSLO   string     `json:"relapsed_slo,omitempty"`
}

// Runbook is what a disaster-recovery runbook did and whether it met its
// objectives.
type Runbook struct {
	Passed     bool          `json:"passed"`
	Failures   []string      `json:"failures"`              // why it did not pass
	RTO        time.Duration `json:"rto_ns"`                // the objective
	DisasterAt time.Time     `json:"disaster_at"`           // the first fault
	RestoredAt *time.Time    `json:"restored_at,omitempty"` // every SLO held again
	// TimeToRestore is RestoredAt - DisasterAt: the measured RTO.
	TimeToRestore *time.Duration `json:"time_to_restore_ns,omitempty"`
	RTOMet        bool           `json:"rto_met"`
	Before        []Step         `json:"before,omitempty"`
	Steps         []Step         `json:"steps"`
	DataCheck     *Step          `json:"data_check,omitempty"`
}

// Step outcomes.
const (
	StepOK      = "ok"
	StepFailed  = "failed"
	StepSkipped = "skipped" // an earlier step failed with on_failure = "abort"
)

// Step is one runbook step's outcome.
type Step struct {
	Name      string        `json:"name"`
	Kind      string        `json:"kind"`
	Status    string        `json:"status"` // ok, failed, skipped
	OnFailure string        `json:"on_failure,omitempty"`
	Started   time.Time     `json:"started,omitempty"`
	Duration  time.Duration `json:"duration_ns"`
	Error     string        `json:"error,omitempty"`  // why it failed
	Detail    string        `json:"detail,omitempty"` // exit code, HTTP status, ...
	Output    string        `json:"output,omitempty"` // the tail of its output
}

// Write stores j as indented JSON at path, atomically (temp file + rename).
func Write(path string, j *Journal) error {
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return fmt.Errorf("encode journal: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("journal dir: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".journal-*")
	if err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write journal %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("sync journal %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write journal %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write journal %s: %w", path, err)
	}
	return nil
}

// ErrNotJournal is returned by Read for a file that is not a chaosctl journal.
var ErrNotJournal = errors.New("not a chaosctl journal")

// Read loads a journal written by Write.
func Read(path string) (*Journal, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	var j Journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("read journal %s: %w: %w", path, ErrNotJournal, err)
	}
	if j.Format == 0 || j.RunID == "" {
		return nil, fmt.Errorf("read journal %s: %w: no format or run_id", path, ErrNotJournal)
	}
	if j.Format != FormatVersion {
		return nil, fmt.Errorf("read journal %s: format %d, this chaosctl reads %d", path, j.Format, FormatVersion)
	}
	return &j, nil
}
