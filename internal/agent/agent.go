// Package agent is the node agent's contract: a controller (chaosctl with
// the kubernetes plugin) asks the agent on a pod's node (chaosctl daemon
// with [agent] enabled) to inject a fault, through one of the agent's own
// plugins, into one container there; it renews the fault's lease while
// it holds the fault, and reverts it. The agent keeps every fault in its
// own ledger, reverts them all when it starts again after dying, and
// reverts on its own a fault whose lease runs out: a dead controller
// never leaves a fault in place.
//
// The agent answers on the daemon's API (bearer token, TLS off loopback).
package agent

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
)

// Lease bounds.
const (
	DefaultLease = 30 * time.Second
	MinLease     = 2 * time.Second
	MaxLease     = 10 * time.Minute
)

// Discovery of the agents of a cluster: pods carrying PodLabel in the
// agent's namespace, one per node; each answers at its AddressAnnotation,
// else at https://<pod IP>:DefaultPort.
const (
	PodLabelKey       = "app.kubernetes.io/name"
	PodLabelValue     = "chaosctl-agent"
	AddressAnnotation = "chaosctl.io/agent-address"
	DefaultNamespace  = "chaosctl"
	DefaultPort       = 7071
)

// Environment of a controller: where its agents are and how to reach them.
const (
	EnvNamespace = "CHAOSCTL_AGENT_NAMESPACE"  // the agents' namespace (default DefaultNamespace)
	EnvTokenFile = "CHAOSCTL_AGENT_TOKEN_FILE" // the agents' API bearer token
	EnvCAFile    = "CHAOSCTL_AGENT_CA_FILE"    // CA of the agents' TLS certificates
	EnvLease     = "CHAOSCTL_AGENT_LEASE"      // lease of each fault (default DefaultLease)
	// EnvServerName is the name the agents' certificates are checked
	// under, whatever their pod's IP (default DefaultServerName).
	EnvServerName     = "CHAOSCTL_AGENT_SERVER_NAME"
	DefaultServerName = "chaosctl-agent"
)

// Fault states, as the agent reports them.
const (
	StateHeld         = "held"          // injected, its lease running
	StateReverted     = "reverted"      // reverted: by its controller, its lease's end, or the agent's restart; an instantaneous fault (a crash) is reverted as soon as it is injected
	StateRevertFailed = "revert-failed" // a revert failed; the agent retries it
	StateUnknown      = "unknown"       // the inject broke without revert data: nothing can undo it
)

// InjectRequest is POST /v1/agent/faults: one fault into one target the
// selector names on the agent's node.
type InjectRequest struct {
	// ID is chosen by the controller and recorded in its ledger before it
	// asks (plugins.Preparer), so that its revert reaches this fault even
	// when the controller died before the agent answered. The agent
	// refuses an ID it already has.
	ID       string         `json:"id"`
	Plugin   string         `json:"plugin"`
	Action   string         `json:"action"`
	Params   plugins.Params `json:"-"`
	Selector plugins.Params `json:"-"`
	Duration time.Duration  `json:"duration,omitempty"` // how long the fault is meant to last
	Lease    time.Duration  `json:"lease"`              // revert unless renewed within
	By       string         `json:"by"`                 // who asks, for the agent's journal
}

type injectWire struct {
	ID       string          `json:"id"`
	Plugin   string          `json:"plugin"`
	Action   string          `json:"action"`
	Params   json.RawMessage `json:"params,omitempty"`
	Selector json.RawMessage `json:"selector,omitempty"`
	Duration time.Duration   `json:"duration,omitempty"`
	Lease    time.Duration   `json:"lease"`
	By       string          `json:"by"`
}

// MarshalJSON keeps the params' TOML types (plugins.EncodeParams).
func (r InjectRequest) MarshalJSON() ([]byte, error) {
	p, err := plugins.EncodeParams(r.Params)
	if err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	s, err := plugins.EncodeParams(r.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector: %w", err)
	}
	return json.Marshal(injectWire{r.ID, r.Plugin, r.Action, p, s, r.Duration, r.Lease, r.By})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (r *InjectRequest) UnmarshalJSON(b []byte) error {
	var w injectWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	p, err := plugins.DecodeParams(w.Params)
	if err != nil {
		return err
	}
	s, err := plugins.DecodeParams(w.Selector)
	if err != nil {
		return fmt.Errorf("selector: %w", err)
	}
	*r = InjectRequest{ID: w.ID, Plugin: w.Plugin, Action: w.Action, Params: p, Selector: s, Duration: w.Duration, Lease: w.Lease, By: w.By}
	return nil
}

// Check is what the agent checks of a request before it touches anything.
func (r InjectRequest) Check() error {
	var errs []error
	if !validID(r.ID) {
		errs = append(errs, &plugins.ValidationError{Field: "id", Msg: fmt.Sprintf("%q: want 8 to 64 letters, digits, '-' or '_'", r.ID)})
	}
	if r.Plugin == "" {
		errs = append(errs, &plugins.ValidationError{Field: "plugin", Msg: "required"})
	}
	if r.Action == "" {
		errs = append(errs, &plugins.ValidationError{Field: "action", Msg: "required"})
	}
	if r.Lease < MinLease || r.Lease > MaxLease {
		errs = append(errs, &plugins.ValidationError{Field: "lease", Msg: fmt.Sprintf("%s is outside [%s, %s]", r.Lease, MinLease, MaxLease)})
	}
	return errors.Join(errs...)
}

// Fault is one fault the agent holds or held.
type Fault struct {
	ID          string         `json:"id"`
	Plugin      string         `json:"plugin"`
	Action      string         `json:"action"`
	Target      plugins.Target `json:"target"`
	State       string         `json:"state"`
	By          string         `json:"by,omitempty"`
	InjectedAt  *time.Time     `json:"injected_at,omitempty"`
	LeaseUntil  *time.Time     `json:"lease_until,omitempty"` // held faults only
	RevertedAt  *time.Time     `json:"reverted_at,omitempty"`
	RevertError string         `json:"revert_error,omitempty"`
	Notes       []string       `json:"notes,omitempty"` // who reverted it, and why
	// Status is the plugin's fact check of the fault, asked now (GET);
	// StatusError says why the plugin could not tell.
	Status      *plugins.Status `json:"status,omitempty"`
	StatusError string          `json:"status_error,omitempty"`
}

// Reverted reports whether the fault is undone, by whoever undid it.
func (f Fault) Reverted() bool { return f.State == StateReverted }

// NewID is a fresh fault ID for InjectRequest.ID.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "af-" + hex.EncodeToString(b[:])
}

func validID(id string) bool {
	if len(id) < 8 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
