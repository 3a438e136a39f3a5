// Package api is the daemon's HTTP API as a client sees it: the JSON types
// of its requests and responses, the sentinels its error codes name, and a
// Client. It does not import the server, so the CLI and the dashboard talk
// to a daemon without linking one in; the server (package daemon) answers
// in these types.
package api

import (
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// StartRequest is the body of POST /v1/runs: a loaded scenario by name,
// or a scenario file's content (what `chaosctl run FILE` sends).
type StartRequest struct {
	Scenario string `json:"scenario,omitempty"`
	File     string `json:"file,omitempty"`    // name of the file, for error positions
	Content  string `json:"content,omitempty"` // the file's TOML
	DryRun   bool   `json:"dry_run,omitempty"`
}

// StartResponse is what POST /v1/runs returns (201).
type StartResponse struct {
	RunID    string `json:"run_id"`
	Scenario string `json:"scenario"`
}

// ErrorResponse is every error's body.
type ErrorResponse struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"` // names the sentinel (see Code), so clients can errors.Is

	Errors []string `json:"errors,omitempty"` // file:line:col: field: message, for an invalid scenario
}

// Status is GET /v1/status: the daemon's state.
type Status struct {
	Halted       bool        `json:"halted"`
	Scenarios    int         `json:"scenarios"`
	InvalidFiles int         `json:"invalid_files"`
	Active       []RunStatus `json:"active"`
	Store        string      `json:"store"`
}

// RunStatus is a run in progress.
type RunStatus struct {
	RunID     string            `json:"run_id"`
	Scenario  string            `json:"scenario"`
	Trigger   string            `json:"trigger"`
	Phase     journal.PhaseName `json:"phase"`
	StartedAt time.Time         `json:"started_at"`
}

// ScenariosResponse is GET /v1/scenarios.
type ScenariosResponse struct {
	Scenarios []ScenarioInfo `json:"scenarios"`
	Errors    []LoadError    `json:"errors"`
}

// ScenarioInfo is one loaded scenario as the API lists it.
type ScenarioInfo struct {
	Name        string     `json:"name"`
	File        string     `json:"file"`
	Description string     `json:"description,omitempty"`
	Schedule    string     `json:"schedule,omitempty"`
	Window      string     `json:"window,omitempty"`
	Concurrency string     `json:"concurrency"`
	NextRun     *time.Time `json:"next_run,omitempty"`
	Running     []string   `json:"running"`
}

// LoadError is one scenario file that did not load. The other files keep
// running and stay scheduled.
type LoadError struct {
	File   string   `json:"file"`
	Errors []string `json:"errors"` // file:line:col: field: message
}

// ScenarioDetail is GET /v1/scenarios/{name}: a loaded scenario, its
// file's TOML as the daemon read it, and the incident it replays.
type ScenarioDetail struct {
	ScenarioInfo
	Content    string         `json:"content"`
	Postmortem PostmortemInfo `json:"postmortem"`
}

// PostmortemInfo is a scenario's [postmortem] on the wire.
type PostmortemInfo struct {
	ID      string `json:"id,omitempty"`
	URL     string `json:"url,omitempty"`
	Date    string `json:"date,omitempty"`
	Summary string `json:"summary,omitempty"`
}

// HaltResponse is POST /v1/halt (and /v1/resume).
type HaltResponse struct {
	Halted  bool     `json:"halted"`
	Aborted []string `json:"aborted"`
}

// UnrevertedFault is one fault the ledger holds as not reverted: its revert
// failed (the daemon retries it) or its state is unknown.
type UnrevertedFault struct {
	RunID   string        `json:"run_id"`
	State   string        `json:"state"` // revert-failed or unknown
	Updated time.Time     `json:"updated"`
	Fault   journal.Fault `json:"fault"`
}

// FaultsResponse is GET /v1/faults.
type FaultsResponse struct {
	Faults []UnrevertedFault `json:"faults"`
}

// FaultRef names one fault: POST /v1/faults/retry and /v1/faults/forget.
type FaultRef struct {
	RunID   string `json:"run_id"`
	FaultID string `json:"fault_id"`
}
