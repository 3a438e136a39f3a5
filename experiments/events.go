package experiments

import (
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
)

// EventKind says what an Event reports.
type EventKind string

const (
	EventPhase   EventKind = "phase"   // a phase started
	EventSample  EventKind = "sample"  // a probe sample arrived
	EventFault   EventKind = "fault"   // a fault changed state (intent, injected, reverted, failed)
	EventSLO     EventKind = "slo"     // current SLO state, twice a second
	EventMessage EventKind = "message" // a line worth showing
	// EventRecovery: where recovery stands (recovering, confirming,
	// recovered, relapsed), five times a second while it is judged.
	EventRecovery EventKind = "recovery"
	EventVerdict  EventKind = "verdict" // the run is over
)

// Event is one progress report of a run. Observers render it live (the
// terminal UI, the daemon's event stream).
type Event struct {
	Time     time.Time         `json:"time"`
	RunID    string            `json:"run_id"`
	Kind     EventKind         `json:"kind"`
	Phase    journal.PhaseName `json:"phase,omitempty"`
	Deadline *time.Time        `json:"deadline,omitempty"` // when the current phase ends at the latest
	Sample   *probes.Sample    `json:"sample,omitempty"`
	Fault    *journal.Fault    `json:"fault,omitempty"`
	SLOs     []SLOState        `json:"slos,omitempty"`
	Message  string            `json:"message,omitempty"`
	Recovery *RecoveryState    `json:"recovery,omitempty"`
	Verdict  journal.Verdict   `json:"verdict,omitempty"`
	Reasons  []string          `json:"reasons,omitempty"`
}

// SLOState is an SLO's figure over its latest window.
type SLOState struct {
	Name         string        `json:"name"`
	Held         bool          `json:"held"`
	Availability float64       `json:"availability_pct"`
	P99          time.Duration `json:"p99_ns"`
	Samples      int           `json:"samples"`
}

// Observer receives events in order from one goroutine. It must not block
// for long: the run waits for it.
type Observer func(Event)
