// Package docker is the "docker" fault plugin: crash, kill, stop, pause,
// restart, partition or fill the disk of containers chosen by name, labels,
// Compose project/service or image, through the Docker Engine API (and,
// for crash and fill, from the host through the container's init pid).
//
// Every Engine call goes through the Engine interface (adapter.go); revert
// data carries everything a fresh process needs to undo a fault after a
// crash of chaosctl (container id, network id and addresses, file paths).
package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/plugins"
)

// Fault implements the "docker" plugin.
type Fault struct {
	engine Lazy
}

var (
	_ plugins.Fault    = (*Fault)(nil)
	_ plugins.Preparer = (*Fault)(nil)
)

// New returns the docker fault; it connects to the Engine (DOCKER_HOST or
// the default socket) on first use.
func New() *Fault { return &Fault{engine: Lazy{Connect: Connect}} }

// NewWithEngine returns the docker fault on a given Engine (tests).
func NewWithEngine(e Engine) *Fault {
	return &Fault{engine: Lazy{Connect: func(context.Context) (Engine, error) { return e, nil }}}
}

func (f *Fault) eng(ctx context.Context) (Engine, error) { return f.engine.Get(ctx) }

// action is one docker action: its schema and what it does.
type action struct {
	plugins.Action
	// onlyRunning: only running, unpaused containers are targets.
	onlyRunning bool
	validate    func(params plugins.Params) []error
	// prepare fills what revert needs before inject runs (see Prepare);
	// inject must keep what it finds in rd. nil: the container's identity
	// is enough.
	prepare func(c Container, params plugins.Params, rd *revertData) error
	inject  func(ctx context.Context, e Engine, c Container, params plugins.Params, rd *revertData) error
	revert  func(ctx context.Context, e Engine, rd revertData) error // nil: nothing to undo
	status  func(ctx context.Context, e Engine, c Container, rd revertData) (plugins.Status, error)
}

// actions is the one list of docker actions.
var actions = []*action{crashAction, killAction, stopAction, pauseAction, restartAction, partitionAction, fillAction}

func lookup(name string) (*action, error) { return plugins.LookupAction(actions, name) }

// revertData is stored durably by the engine; a fresh process reverts from
// it alone.
type revertData struct {
	ContainerID string    `json:"container_id"`
	Name        string    `json:"name"`
	StartedAt   time.Time `json:"started_at"`        // the container's start at injection
	Pid         int       `json:"pid,omitempty"`     // crash: the pid signalled
	Signal      string    `json:"signal,omitempty"`  // crash, kill
	StartAfter  bool      `json:"start_after"`       // stop: start again on revert
	Network     *Endpoint `json:"network,omitempty"` // partition: how to reconnect
	Fill        *fillData `json:"fill,omitempty"`    // fill: what to remove
	Restart     string    `json:"restart,omitempty"` // the restart policy at injection
	// crash, kill, restart: the container's die event, seen after it was
	// signalled, or why none was.
	DiedAt   time.Time `json:"died_at,omitzero"`
	ExitCode *int      `json:"exit_code,omitempty"`
	NoDie    string    `json:"no_die,omitempty"`
}

// Describe lists the actions.
func (*Fault) Describe(context.Context) (plugins.Descriptor, error) {
	d := plugins.Descriptor{
		Name: "docker", Version: "1",
		Doc: "Crash, kill, stop, pause, restart, partition or fill the disk of Docker containers. " +
			"Containers labelled chaosctl.skip=true or chaosctl.managed=true, and chaosctl's own, are never targets.",
	}
	for _, a := range actions {
		x := a.Action
		x.Selector = dockerengine.SelectorSchema()
		d.Actions = append(d.Actions, x)
	}
	return d, nil
}

// Validate checks the selector and the action's parameters.
func (*Fault) Validate(_ context.Context, name string, params, sel plugins.Params) error {
	a, err := lookup(name)
	if err != nil {
		return err
	}
	errs := dockerengine.CheckSelector(sel)
	if a.validate != nil {
		errs = append(errs, a.validate(params)...)
	}
	return errors.Join(errs...)
}

// Targets lists the containers the action would hit.
func (f *Fault) Targets(ctx context.Context, name string, _ plugins.Params, sel plugins.Params) ([]plugins.Target, error) {
	a, err := lookup(name)
	if err != nil {
		return nil, err
	}
	e, err := f.eng(ctx)
	if err != nil {
		return nil, err
	}
	list, err := dockerengine.SelectContainers(ctx, e, sel, a.onlyRunning)
	if err != nil {
		return nil, err
	}
	out := make([]plugins.Target, len(list))
	for i, c := range list {
		out[i] = plugins.Target{Kind: "container", ID: c.ID, Name: c.Name, Attrs: map[string]string{"image": c.Image}}
	}
	return out, nil
}

// Prepare names the revert data of a reversible action before anything is
// done: the container, and what the action will change (the network it
// cuts, the fill file it writes), so that a crash during Inject can be
// undone. Reverting it when Inject never ran changes nothing.
func (f *Fault) Prepare(ctx context.Context, req plugins.InjectRequest) ([]byte, error) {
	a, err := lookup(req.Action)
	if err != nil || a.revert == nil {
		return nil, err
	}
	c, err := dockerengine.InspectTarget(ctx, &f.engine, req.Target)
	if err != nil {
		return nil, err
	}
	rd := identity(c)
	if a.prepare != nil {
		if err := a.prepare(c, req.Params, &rd); err != nil {
			return nil, err
		}
	}
	return json.Marshal(rd)
}

// Inject applies the action to one container.
func (f *Fault) Inject(ctx context.Context, req plugins.InjectRequest) ([]byte, error) {
	a, err := lookup(req.Action)
	if err != nil {
		return nil, err
	}
	e, err := f.eng(ctx)
	if err != nil {
		return nil, err
	}
	c, err := e.Inspect(ctx, req.Target.ID)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("container %s vanished before injection: %w", req.Target, err)
	}
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", req.Target, err)
	}
	if why := dockerengine.Protected(c); why != "" {
		return nil, fmt.Errorf("container %s is protected: %s", c.Name, why)
	}
	if a.onlyRunning && (!c.Running || c.Paused) {
		return nil, fmt.Errorf("container %s is %s, not running", c.Name, c.State)
	}
	rd := identity(c)
	if len(req.Prepared) > 0 {
		if err := json.Unmarshal(req.Prepared, &rd); err != nil || rd.ContainerID != c.ID {
			return nil, fmt.Errorf("prepared revert data does not name container %s", c.Name)
		}
	}
	ierr := a.inject(ctx, e, c, req.Params, &rd)
	if ierr != nil && a.revert == nil {
		return nil, ierr
	}
	b, err := json.Marshal(rd)
	if err != nil {
		return nil, errors.Join(ierr, fmt.Errorf("encode revert data: %w", err))
	}
	if ierr != nil && !rd.partial() {
		return nil, ierr
	}
	return b, ierr
}

// partial says whether a failed injection left something to undo.
func (rd revertData) partial() bool { return rd.Network != nil || rd.Fill != nil }

// identity is the revert data every action starts from: which container,
// as it was when the fault began.
func identity(c Container) revertData {
	return revertData{ContainerID: c.ID, Name: c.Name, StartedAt: c.StartedAt, Restart: c.Restart}
}

// Revert undoes the action. A container that no longer exists needs nothing.
func (f *Fault) Revert(ctx context.Context, name string, data []byte) error {
	a, err := lookup(name)
	if err != nil {
		return err
	}
	if a.revert == nil || len(data) == 0 {
		return nil
	}
	var rd revertData
	if err := json.Unmarshal(data, &rd); err != nil {
		return fmt.Errorf("revert data: %w", err)
	}
	e, err := f.eng(ctx)
	if err != nil {
		return fmt.Errorf("revert %s on %s: %w", name, rd.Name, err)
	}
	if err := a.revert(ctx, e, rd); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("revert %s on %s: %w", name, rd.Name, err)
	}
	return nil
}

// Status says, from the container's state as the Engine reports it now,
// whether the fault is in effect; for crash, kill and restart, whether
// their effect was confirmed by the container's die event.
func (f *Fault) Status(ctx context.Context, name string, data []byte) (plugins.Status, error) {
	a, err := lookup(name)
	if err != nil {
		return plugins.Status{}, err
	}
	var rd revertData
	if err := json.Unmarshal(data, &rd); err != nil {
		return plugins.Status{}, fmt.Errorf("revert data: %w", err)
	}
	e, err := f.eng(ctx)
	if err != nil {
		return plugins.Status{}, err
	}
	c, err := e.Inspect(ctx, rd.ContainerID)
	// A fill of a volume outlives its container; nothing else a reversible
	// action did does.
	outlives := rd.Fill != nil && (rd.Fill.Via == viaMount || rd.Fill.Via == viaMountRoot)
	switch {
	case errors.Is(err, ErrNotFound) && a.Reversible && !outlives:
		return plugins.Status{Detail: fmt.Sprintf("container %s is gone", rd.Name)}, nil
	case errors.Is(err, ErrNotFound):
		c = Container{ID: rd.ContainerID, Name: rd.Name, State: "removed"}
	case err != nil:
		return plugins.Status{}, fmt.Errorf("status of %s on %s: %w", name, rd.Name, err)
	}
	return a.status(ctx, e, c, rd)
}

// stateOf is a container's state for a Status Detail: "running since
// 12:00:01.123", "exited (exit code 137)", "paused".
func stateOf(c Container) string {
	switch c.State {
	case "running": // not "restarting", where the Engine says Running too
		if c.StartedAt.IsZero() {
			return "running"
		}
		return "running since " + c.StartedAt.Local().Format(clock)
	case "exited", "dead":
		return fmt.Sprintf("%s (exit code %d)", c.State, c.ExitCode)
	case "restarting":
		return fmt.Sprintf("restarting (exit code %d, restart %d)", c.ExitCode, c.RestartCount)
	case "":
		return "in an unknown state"
	}
	return c.State
}

// clock is how Details print a time: the Engine's, to the millisecond.
const clock = "15:04:05.000"

// Close releases the Engine connection.
func (f *Fault) Close() error { return f.engine.Close() }

// Shared parameter helpers.

func signalParam(params plugins.Params) (string, error) {
	s, _ := params["signal"].(string)
	name, _, err := plugins.ParseSignal(s)
	return name, err
}

func validateSignal(params plugins.Params) []error {
	if _, err := signalParam(params); err != nil {
		return []error{err}
	}
	return nil
}

func durationParam(params plugins.Params, key string, def time.Duration) (time.Duration, error) {
	v, ok := params[key]
	if !ok {
		return def, nil
	}
	s, _ := v.(string)
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, &plugins.ValidationError{Field: "params." + key, Msg: fmt.Sprintf("not a duration: %v", v)}
	}
	return d, nil
}

var signalSchema = plugins.SignalParam
