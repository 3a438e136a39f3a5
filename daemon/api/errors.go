package api

import "errors"

// Sentinels the daemon answers with. The server maps them to status codes
// and names them on the wire (ErrorResponse.Code); a client's APIError
// matches them with errors.Is.
var (
	ErrHalted          = errors.New("daemon is halted: no new runs until resumed")
	ErrShuttingDown    = errors.New("daemon is shutting down")
	ErrUnknownScenario = errors.New("unknown scenario")
	ErrUnknownRun      = errors.New("unknown run")
	ErrAlreadyRunning  = errors.New("a run of this scenario is in progress and its concurrency is forbid")
	ErrTooManyRuns     = errors.New("max_concurrent_runs reached")
	ErrRunFinished     = errors.New("run is already finished")
	ErrRunIDCollision  = errors.New("no unused run id")
	// ErrTargetBusy: another run holds one of the targets.
	ErrTargetBusy = errors.New("target is in use by another run")
	// ErrCommandsForbidden: an uploaded scenario would run commands and
	// policy.allow_commands is false.
	ErrCommandsForbidden = errors.New("uploaded scenarios may not run commands here (policy.allow_commands = false)")
)

// Sentinels of the client's own.
var (
	// ErrUnreachable: no daemon answers where the client looked.
	ErrUnreachable = errors.New("no chaosctl daemon reachable")
	// ErrTokenInClear: the client was asked to send its bearer token over
	// plain http to an address off this machine.
	ErrTokenInClear = errors.New("refusing to send the API token in clear text")
)

// codes name the daemon's sentinels on the wire.
var codes = map[string]error{
	"halted":           ErrHalted,
	"shutting_down":    ErrShuttingDown,
	"unknown_scenario": ErrUnknownScenario,
	"unknown_run":      ErrUnknownRun,
	"already_running":  ErrAlreadyRunning,
	"too_many_runs":    ErrTooManyRuns,
	"run_finished":     ErrRunFinished,
	"target_busy":      ErrTargetBusy,
	"run_id_collision": ErrRunIDCollision,
	"commands_denied":  ErrCommandsForbidden,
}

// Code is the wire code of the sentinel err wraps, "" for none.
func Code(err error) string {
	var code string
	for c, sentinel := range codes {
		if errors.Is(err, sentinel) {
			code = c
		}
	}
	return code
}
