package notify

import (
	"time"

	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
)

// Schema is the version of Payload. A change that removes or retypes a
// field is a new version; new optional fields keep it.
const Schema = "chaosctl.notify/v1"

// Payload is what a webhook receives, one JSON object per event
// (README.md, Notifications, has the table of fields).
type Payload struct {
	Schema   string       `json:"schema"`
	Event    string       `json:"event"` // start, fault, verdict
	Time     time.Time    `json:"time"`
	RunID    string       `json:"run_id"`
	Scenario string       `json:"scenario"`
	Fault    *FaultInfo   `json:"fault,omitempty"`
	Verdict  *VerdictInfo `json:"verdict,omitempty"`
}

// Fault states (FaultInfo.State).
const (
	FaultInjected     = "injected"
	FaultChecked      = "checked" // the fact check's effect, when it came after the injection
	FaultReverted     = "reverted"
	FaultInjectFailed = "inject-failed"
	FaultRevertFailed = "revert-failed" // the fault may still be in effect
)

// FaultInfo is one fault going in or out.
type FaultInfo struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Plugin     string     `json:"plugin"`
	Action     string     `json:"action"`
	Target     string     `json:"target"`
	State      string     `json:"state"`
	InjectedAt *time.Time `json:"injected_at,omitempty"`
	RevertedAt *time.Time `json:"reverted_at,omitempty"`
	// The fact check: confirmed, not-in-effect or not-verified, and the
	// plugin's words.
	Effect       string `json:"effect,omitempty"`
	EffectDetail string `json:"effect_detail,omitempty"`
	Error        string `json:"error,omitempty"` // inject or revert error
}

// VerdictInfo is how the run ended.
type VerdictInfo struct {
	Verdict  string   `json:"verdict"`
	ExitCode int      `json:"exit_code"` // chaosctl run's exit code for it
	Reasons  []string `json:"reasons"`
	// TimeToRecover is from the recovery clock's start to the recovery
	// instant; absent when the service did not recover.
	TimeToRecoverNS *int64 `json:"time_to_recover_ns,omitempty"`
	TimeToRecover   string `json:"time_to_recover,omitempty"` // the same, as a Go duration ("1.2s")
}

func faultInfo(f *journal.Fault, state string) *FaultInfo {
	fi := &FaultInfo{
		ID: f.ID, Name: f.Name, Plugin: f.Plugin, Action: f.Action, Target: f.Target.String(), State: state,
		InjectedAt: f.InjectedAt, RevertedAt: f.RevertedAt, Effect: f.Effect, EffectDetail: f.EffectDetail,
	}
	switch state {
	case FaultInjectFailed:
		fi.Error = f.InjectError
	case FaultRevertFailed:
		fi.Error = f.RevertError
	}
	return fi
}

func verdictInfo(ev experiments.Event, ttr *time.Duration) *VerdictInfo {
	vi := &VerdictInfo{Verdict: string(ev.Verdict), ExitCode: ev.Verdict.ExitCode(), Reasons: ev.Reasons}
	if vi.Reasons == nil {
		vi.Reasons = []string{}
	}
	if ttr != nil {
		ns := int64(*ttr)
		vi.TimeToRecoverNS, vi.TimeToRecover = &ns, ttr.String()
	}
	return vi
}
