// Package plugins is the fault contract: what a fault plugin describes,
// validates, injects and reverts. The engine only ever talks to Fault, so a
// fault can run in-process or behind a plugin process boundary unchanged.
package plugins

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. Wrap them with %w; callers test with errors.Is.
var (
	ErrUnknownPlugin  = errors.New("unknown plugin")
	ErrUnknownAction  = errors.New("unknown action")
	ErrInvalidParams  = errors.New("invalid parameters")
	ErrNoTargets      = errors.New("selector matched no targets")
	ErrPluginShutdown = errors.New("plugin process is gone")
	ErrCanceled       = errors.New("plugin call canceled")
	// ErrUnimplemented: the plugin does not implement the method (a
	// third-party plugin whose Status says "unimplemented"). For Status it
	// means the fault's effect cannot be verified.
	ErrUnimplemented = errors.New("not implemented by the plugin")
)

// Fault is one fault plugin. Every method takes the caller's context; a
// plugin must return promptly when it is cancelled.
type Fault interface {
	// Describe lists the plugin's actions and their parameters.
	Describe(ctx context.Context) (Descriptor, error)
	// Validate checks an action's parameters and target selector beyond
	// the schema in Describe. It returns *ValidationError (possibly several
	// joined with errors.Join) naming the offending field.
	Validate(ctx context.Context, action string, params Params, selector Params) error
	// Targets resolves a selector to the concrete targets an action would hit.
	// It injects nothing: preflight and --dry-run use it.
	Targets(ctx context.Context, action string, params Params, selector Params) ([]Target, error)
	// Inject applies the action to targets and returns revert data: opaque
	// bytes the engine stores durably so that a fresh plugin process can
	// undo the fault after a crash. It is called once per target.
	Inject(ctx context.Context, req InjectRequest) (RevertData []byte, err error)
	// Revert undoes what Inject did, from its revert data alone. Reverting a
	// fault whose target no longer exists, or that is already reverted, is
	// not an error.
	Revert(ctx context.Context, action string, revertData []byte) error
	// Status reports, from the real state of the target and never from
	// memory of what was done, whether the fault described by revert data
	// is in effect. For a reversible action Active means the fault still
	// holds (the process is stopped, the qdisc with our handle is there).
	// For an instantaneous action (a kill, a crash) Active means its effect
	// is confirmed: the target process is gone, or the container's die
	// event was seen. The engine calls it right after Inject, about once a
	// second while the fault is held, and after Revert, where Active means
	// the revert failed, unless Lasting says the effect is meant to outlive
	// the revert. A plugin that cannot tell returns an error wrapping
	// ErrUnimplemented.
	Status(ctx context.Context, action string, revertData []byte) (Status, error)
}

// Params are decoded TOML values: string, int64, float64, bool, []any,
// map[string]any. Durations travel as strings ("500ms").
type Params map[string]any

// InjectRequest is one injection into one target.
type InjectRequest struct {
	Action   string        `json:"action"`
	Params   Params        `json:"params"`
	Target   Target        `json:"target"`
	Duration time.Duration `json:"duration"` // how long the fault is meant to last; 0: until reverted
	// Prepared is what Preparer.Prepare returned for this request, if the
	// plugin prepares: Inject must act so that this revert data undoes it
	// (the same file name, the same process...).
	Prepared []byte `json:"prepared,omitempty"`
}

// Preparer is a Fault that can name its revert data before it injects.
// The engine records that revert data durably before calling Inject, so a
// crash in the middle of Inject (of the plugin or of chaosctl) can still be
// undone. Revert with prepared data must succeed when Inject never ran or
// ran only in part. Faults whose effect dies with the plugin process need
// not implement it.
//
// An Inject that returns an error and no revert data says it changed
// nothing, and the engine reverts nothing. The prepared data is used only
// when the call broke without an answer (ErrPluginShutdown, ErrCanceled)
// or the runner itself died mid-call.
type Preparer interface {
	Prepare(ctx context.Context, req InjectRequest) (revertData []byte, err error)
}

// Target is one thing a fault hits.
type Target struct {
	Kind  string            `json:"kind"` // "process", "container", "path", "host"
	ID    string            `json:"id"`   // pid, container id, path
	Name  string            `json:"name"` // human name
	Attrs map[string]string `json:"attrs,omitempty"`
}

func (t Target) String() string {
	if t.Name != "" && t.Name != t.ID {
		return t.Kind + ":" + t.Name + "(" + t.ID + ")"
	}
	return t.Kind + ":" + t.ID
}

// Status is whether an injected fault is still in effect.
type Status struct {
	Active bool   `json:"active"`
	Detail string `json:"detail,omitempty"`
	// Lasting: the effect is meant to outlive the revert (a container
	// stopped with start_after = false), so Active after Revert is not a
	// failure.
	Lasting bool `json:"lasting,omitempty"`
}

// Descriptor is what a plugin says about itself.
type Descriptor struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	Doc     string   `json:"doc"`
	Actions []Action `json:"actions"`
}

// Action looks up an action by name.
func (d Descriptor) Action(name string) (Action, bool) {
	for _, a := range d.Actions {
		if a.Name == name {
			return a, true
		}
	}
	return Action{}, false
}

// ActionName is the action's name: a plugin's own action type, which
// embeds Action, has it too (LookupAction).
func (a Action) ActionName() string { return a.Name }

// LookupAction is the action of list named name, or ErrUnknownAction
// naming the known ones: the one lookup of the built-in plugins' action
// tables.
func LookupAction[A interface{ ActionName() string }](list []A, name string) (A, error) {
	names := make([]string, 0, len(list))
	for _, a := range list {
		if a.ActionName() == name {
			return a, nil
		}
		names = append(names, a.ActionName())
	}
	var none A
	return none, fmt.Errorf("%w %q (known: %s)", ErrUnknownAction, name, strings.Join(names, ", "))
}

// Action is one thing a plugin can do.
type Action struct {
	Name string `json:"name"`
	Doc  string `json:"doc"`
	// Reversible actions are undone by Revert after the fault's duration;
	// others (a SIGKILL) are instantaneous and their Revert is a no-op.
	Reversible bool    `json:"reversible"`
	Params     []Param `json:"params"`
	Selector   []Param `json:"selector"` // keys of the fault's target table
}

// ParamType is a parameter's TOML type.
type ParamType string

const (
	TypeString   ParamType = "string"
	TypeInt      ParamType = "int"
	TypeFloat    ParamType = "float"
	TypeBool     ParamType = "bool"
	TypeDuration ParamType = "duration"
	TypeStrings  ParamType = "[]string"
	TypeTable    ParamType = "table"
)

// Param is one parameter's schema.
type Param struct {
	Name     string    `json:"name"`
	Type     ParamType `json:"type"`
	Required bool      `json:"required,omitempty"`
	Default  any       `json:"default,omitempty"`
	Doc      string    `json:"doc"`
	Min      *float64  `json:"min,omitempty"`
	Max      *float64  `json:"max,omitempty"`
	Enum     []string  `json:"enum,omitempty"`
}

// ValidationError names the parameter (or selector key) that is wrong.
type ValidationError struct {
	Field string // "params.signal", "target.name"
	Msg   string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Msg }
func (e *ValidationError) Unwrap() error { return ErrInvalidParams }

// Catalog resolves plugin names to faults. The engine, validation and
// `chaosctl plugins` read the same catalog.
type Catalog interface {
	Lookup(ctx context.Context, name string) (Fault, error)
	Names() []string
}

// EarlyRevert says that an injected fault was reverted before its holder
// asked: its plugin process died mid-fault, was relaunched, and the fresh
// process reverted the fault from its revert data. When that revert fails
// nothing is sent: the fault stays the holder's to revert.
type EarlyRevert struct {
	At   time.Time
	Note string // what happened, for the journal
}

// CrashWatcher is an optional ability of a Fault whose plugin runs in
// another process (see plugins/host).
type CrashWatcher interface {
	// Watch returns a channel that receives once if the fault injected with
	// (action, revertData) is reverted early. Revert by the caller ends the
	// watch; the channel is never closed.
	Watch(action string, revertData []byte) <-chan EarlyRevert
}
