// Package steps holds the kinds of runbook step, one file each, in one
// registry that scenario validation, the runbook runner and the docs tests
// read, as probe kinds are in probes/. It sits below scenarios (which
// checks a step against its kind) and runbooks (which runs it), so that
// both read the same list.
package steps

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/probes"
)

// The kinds' names, for callers that single one out (the daemon's policy
// on uploaded scenarios that run commands).
const (
	KindCommand = "command"
	KindHTTP    = "http"
	KindWait    = "wait"
)

// Step is one runbook step as the scenario file has it: the common keys,
// then each kind's keys. Scenario files are decoded strictly into one flat
// table per step, so every kind's keys are fields here; which of them a
// kind takes is its Kind.Keys, and register refuses a kind whose keys are
// not fields here or are another kind's.
type Step struct {
	Name      string          `toml:"name"`       // default: kind-N
	Kind      string          `toml:"kind"`       // a registered kind
	Timeout   probes.Duration `toml:"timeout"`    // default 30s
	OnFailure string          `toml:"on_failure"` // "abort" (default) or "continue"

	// command (command.go)
	Command     []string          `toml:"command"`      // argv; no shell unless you run one
	Env         map[string]string `toml:"env"`          // added to chaosctl's environment
	Dir         string            `toml:"dir"`          // working directory
	ExpectExit  int               `toml:"expect_exit"`  // default 0
	StdoutRegex string            `toml:"stdout_regex"` // Go regexp over stdout

	// http (http.go)
	Method       string            `toml:"method"` // default GET
	URL          string            `toml:"url"`
	Headers      map[string]string `toml:"headers"`
	Body         string            `toml:"body"`
	ExpectStatus []int             `toml:"expect_status"` // default [200]
	BodyRegex    string            `toml:"body_regex"`

	// wait (wait.go)
	SLO   string `toml:"slo"`   // until this SLO holds over its window
	Probe string `toml:"probe"` // until this probe's latest sample is ok
}

// CommonKeys are the keys every step takes, whatever its kind.
var CommonKeys = []string{"name", "kind", "timeout", "on_failure"}

// Spec is what a step kind does with a step: check it, and run it.
type Spec interface {
	// Validate fills in the kind's defaults and reports every problem with
	// the step's keys, each naming its key ("" for the step as a whole).
	Validate(st *Step, refs Refs) []FieldError
	// Run runs a validated step once. ctx carries the step's timeout.
	Run(ctx context.Context, st Step, env Env) (Outcome, error)
}

// Kind is one step kind: its name, the keys it takes besides the common
// ones, and its Spec.
type Kind struct {
	Name string
	Keys []string // in the order the docs and errors list them
	Spec Spec
	// NoDataCheck, when set, says why a step of this kind cannot be a
	// runbook's data check, which must prove that data survived.
	NoDataCheck string
	// RunsCommands marks a kind that runs programs on this machine: the
	// daemon's [policy] allow_commands decides whether uploaded scenarios
	// may use it.
	RunsCommands bool
}

// FieldError names the key of a step that is wrong; probe specs use the
// same type.
type FieldError = probes.FieldError

// Refs is what a step may name elsewhere in its scenario.
type Refs struct {
	SLOs   []string // the scenario's SLOs, sorted
	Probes []string // its probes, sorted
}

// Env is what a running step may look at besides its own keys: the run's
// samples, judged against the scenario's SLOs. The runbook runner gives it.
type Env interface {
	// SLOHeld reports whether the SLO named slo holds now over its window,
	// counting only samples taken since the disaster, and what was seen.
	SLOHeld(slo string) (bool, string)
	// ProbeOK reports whether the latest of probe's samples taken since
	// since is ok, and what was seen.
	ProbeOK(probe string, since time.Time) (bool, string)
}

// Outcome is what a step reports besides success: a short detail (exit
// code, HTTP status) and the tail of its output.
type Outcome struct {
	Detail, Output string
}

// ErrUnknownKind is the cause of a step whose kind is not registered.
var ErrUnknownKind = errors.New("unknown step kind")

// registry is the single list of step kinds.
type registry map[string]Kind

var kinds = registry{}

func register(k Kind) { kinds.add(k) }

var stepKeys = func() map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeFor[Step]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		keys[name] = true
	}
	return keys
}()

// add registers k. It panics on a kind without a name or a Spec, on a
// duplicate, and on a key that is not a field of Step, is a common key or
// is another kind's: each key belongs to one kind.
func (r registry) add(k Kind) {
	if k.Name == "" || k.Spec == nil {
		panic("steps: kind without name or spec")
	}
	if _, dup := r[k.Name]; dup {
		panic(fmt.Sprintf("steps: kind %q registered twice", k.Name))
	}
	for _, key := range k.Keys {
		switch {
		case !stepKeys[key]:
			panic(fmt.Sprintf("steps: kind %q: key %q is not a field of Step", k.Name, key))
		case slices.Contains(CommonKeys, key):
			panic(fmt.Sprintf("steps: kind %q: key %q is common to every kind", k.Name, key))
		}
		for _, other := range r {
			if slices.Contains(other.Keys, key) {
				panic(fmt.Sprintf("steps: kind %q: key %q is kind %q's", k.Name, key, other.Name))
			}
		}
	}
	r[k.Name] = k
}

func (r registry) get(name string) (Kind, error) {
	if k, ok := r[name]; ok {
		return k, nil
	}
	return Kind{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownKind, name, strings.Join(r.names(), ", "))
}

func (r registry) list() []Kind {
	out := make([]Kind, 0, len(r))
	for _, k := range r {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (r registry) names() []string {
	out := make([]string, 0, len(r))
	for name := range r {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the kind named name; the error (ErrUnknownKind) lists
// the known ones.
func Lookup(name string) (Kind, error) { return kinds.get(name) }

// Kinds lists every kind, sorted by name.
func Kinds() []Kind { return kinds.list() }

// Names lists every kind's name, sorted.
func Names() []string { return kinds.names() }

const (
	// maxOutput caps the stdout (for stdout_regex), stderr and response
	// body (for body_regex) a step keeps.
	maxOutput = 1 << 20
	// outputTail is how much of a step's output its Outcome keeps.
	outputTail = 2048
)

// tail is the last n bytes of s, trimmed.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}
