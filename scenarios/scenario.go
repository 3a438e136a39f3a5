// Package scenarios is the scenario file format (v1): a post-mortem turned
// into probes, SLOs, faults, recovery objectives and safety limits. Files are
// decoded strictly (unknown keys are errors) and then validated; every error
// names file:line:col and the field.
package scenarios

import (
	"github.com/chaosctl/chaosctl/internal/stricttoml"
	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/runbooks/steps"
)

// Version is the scenario format version this package reads.
const Version = 1

// Scenario is one decoded, validated scenario file.
type Scenario struct {
	Version     int        `toml:"version"`
	Name        string     `toml:"name"`
	Description string     `toml:"description"`
	Tags        []string   `toml:"tags"`
	Owner       string     `toml:"owner"`
	Schedule    string     `toml:"schedule"`    // cron expression for the daemon; empty: on request only
	Window      string     `toml:"window"`      // when scheduled runs may start, e.g. "Tue 10:00-12:00"; empty: any time
	Concurrency string     `toml:"concurrency"` // forbid (default), allow or replace
	Postmortem  Postmortem `toml:"postmortem"`
	Steady      Steady     `toml:"steady"`
	Probes      []Probe    `toml:"probe"`
	SLOs        []SLO      `toml:"slo"`
	Faults      []Fault    `toml:"fault"`
	Recovery    Recovery   `toml:"recovery"`
	Safety      Safety     `toml:"safety"`
	Runbook     *Runbook   `toml:"runbook"`

	// Filled by the loader, not the file.
	Path string     `toml:"-"` // file it was read from
	Hash string     `toml:"-"` // sha256 of the file's bytes, hex
	Pos  *Positions `toml:"-"` // where each key stands in the file, once asked
}

// Postmortem is the incident the scenario replays.
type Postmortem struct {
	ID      string   `toml:"id"`
	URL     string   `toml:"url"`
	Date    string   `toml:"date"` // YYYY-MM-DD
	Summary string   `toml:"summary"`
	Lessons []string `toml:"lessons"`
}

// Steady is how steady state is established before any fault.
type Steady struct {
	Duration Duration `toml:"duration"` // default 2s
}

// Probe is one steady-state probe: common keys here, kind-specific keys
// (url, address, command, ...) decoded into Spec from the same table.
type Probe struct {
	Name     string   `toml:"name"`
	Kind     string   `toml:"kind"`
	Interval Duration `toml:"interval"` // default 1s
	Timeout  Duration `toml:"timeout"`  // default: the interval

	Spec probes.Spec `toml:"-"`
}

// SLO is an objective over a probe's samples in a sliding window.
type SLO struct {
	Name              string   `toml:"name"`
	Probe             string   `toml:"probe"`
	Availability      *float64 `toml:"availability"`       // percent of samples ok, e.g. 99.0
	LatencyPercentile *float64 `toml:"latency_percentile"` // e.g. 99
	LatencyMax        Duration `toml:"latency_max"`        // e.g. "300ms"
	Window            Duration `toml:"window"`             // default 5s
	// MustHoldDuringFaults fails the run if the SLO breaks while faults are
	// active; by default a breach during the fault is recorded, and the
	// verdict rests on recovery.
	MustHoldDuringFaults bool `toml:"must_hold_during_faults"`
}

// Fault is one injection.
type Fault struct {
	Name     string         `toml:"name"`
	Plugin   string         `toml:"plugin"`
	Action   string         `toml:"action"`
	Target   plugins.Params `toml:"target"` // selector, keys defined by the plugin action
	Params   plugins.Params `toml:"params"`
	After    Duration       `toml:"after"`    // offset from the start of injection (parallel) or the previous fault's end (serial)
	Duration Duration       `toml:"duration"` // how long the fault lasts before revert; 0: instantaneous
	// Reapply re-injects a reversible fault that vanished while it was held
	// (the container was unpaused or restarted by someone else). Without
	// it a vanished fault is recorded, and the run cannot pass.
	Reapply bool `toml:"reapply"`
}

// Recovery is how fast service must come back.
type Recovery struct {
	Within      Duration `toml:"recover_within"` // required
	HoldFor     Duration `toml:"hold_for"`       // SLO must hold this long to count as recovered; default 2s
	MeasureFrom string   `toml:"measure_from"`   // "inject" (default) or "revert"
	// ObserveAfter is how long the run keeps watching once recovery is
	// confirmed: a breach then is a relapse, and fails the run. Default:
	// hold_for.
	ObserveAfter Duration `toml:"observe_after"`
}

// Safety limits the blast radius.
type Safety struct {
	MaxTargets       int             `toml:"max_targets"`        // default 1; 0 in the file means the default
	Injection        string          `toml:"injection"`          // "parallel" (default) or "serial"
	OnEmptySelection string          `toml:"on_empty_selection"` // "fail" (default) or "skip"
	Stop             []StopCondition `toml:"stop"`
}

// StopCondition aborts the run at once when a probe's error ratio over a
// window exceeds a limit while faults are active.
type StopCondition struct {
	Probe         string   `toml:"probe"`
	MaxErrorRatio float64  `toml:"max_error_ratio"` // percent
	Window        Duration `toml:"window"`          // default 10s
}

// Runbook is the disaster-recovery runbook exercised by the scenario: steps
// that run before the disaster (take a backup, write a marker record), steps
// that restore service after it, and the objectives that prove it worked: the
// recovery time objective and a data check.
type Runbook struct {
	RTO       Duration `toml:"rto"`        // disaster start -> every SLO restored; default recovery.recover_within
	Before    []Step   `toml:"before"`     // run after steady state holds, before the first fault
	Steps     []Step   `toml:"step"`       // run in order once the faults are in
	DataCheck *Step    `toml:"data_check"` // run after service is restored: proves nothing was lost
}

// Step is one runbook step: the common keys and its kind's. The kinds,
// the keys each takes and what it checks are the registry in
// runbooks/steps; a key of another kind is an error.
type Step = steps.Step

// StepCommand is the kind of step that runs a command.
const StepCommand = steps.KindCommand

// Duration is a Go duration in TOML as a string ("500ms", "2m"); the same
// type probe specs use.
type Duration = probes.Duration

// Position is a 1-based line and column in a scenario file.
type Position = stricttoml.Position

// Index maps a key path such as "fault[0].params.signal" or "probe[1].url"
// to where it stands in the file; Lookup finds a key or its nearest table.
type Index = stricttoml.Index

// Positions is a file's key index, built when first asked.
type Positions = stricttoml.Positions
