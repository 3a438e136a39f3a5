// Package probes measures steady state: each probe kind (one file each)
// turns a small TOML spec into a Prober that takes one timed Sample.
package probes

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
)

// Sample is one observation of a probe.
type Sample struct {
	Probe   string        `json:"probe"`
	Time    time.Time     `json:"time"`            // when the attempt started
	OK      bool          `json:"ok"`              // the probe's assertions held
	Latency time.Duration `json:"latency_ns"`      // how long the attempt took
	Value   float64       `json:"value,omitempty"` // the measured figure (status code, CPU %, ...)
	Err     string        `json:"error,omitempty"` // why it was not ok
	// Unmeasured is a sample that measured nothing: the probe's source of
	// truth (a Prometheus server) could not be asked. It is no evidence
	// either way, so the SLOs are judged without it; OK is false and Err
	// says why.
	Unmeasured bool `json:"unmeasured,omitempty"`
}

// End is when the attempt finished: the instant its outcome became known.
func (s Sample) End() time.Time { return s.Time.Add(s.Latency) }

// Prober takes one sample. It must honour ctx and never block past it.
type Prober interface {
	Probe(ctx context.Context) Sample
}

// Optional abilities of a Prober, found by type assertion.

// Streamer is a Prober that makes its own samples at its own pace rather
// than one per Probe call: the engine calls Stream once, instead of Probe
// every interval, and records every sample emit is given until ctx ends.
// timeout bounds each attempt. Stream returns when ctx ends; emit is not
// called after it returns.
type Streamer interface {
	Prober
	Stream(ctx context.Context, timeout time.Duration, emit func(Sample)) error
}

// Watcher is a Prober that also watches its target between samples (a
// Kubernetes informer): the engine samples it every interval as usual,
// and runs Watch beside that, recording the extra sample Watch emits at
// each change it sees, timed at the instant the change arrived. Recovery
// instants then come from the watch, not from the polling grid. Watch
// returns when ctx ends; emit is not called after it returns.
type Watcher interface {
	Prober
	Watch(ctx context.Context, emit func(Sample)) error
}

// RateReporter is a prober that aims at a rate and can say what it
// achieved so far (both per second): a run whose load was not what the
// scenario asked for proves less than it claims.
type RateReporter interface {
	Achieved() (got, want float64)
}

// Spec is the decoded, kind-specific part of a probe definition.
type Spec interface {
	// Validate reports every problem with the spec, each naming its field.
	Validate() []FieldError
	// Build returns a ready Prober named name.
	Build(name string) (Prober, error)
}

// FieldError names the spec field (a TOML key under the probe) that is wrong.
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Kind is one probe kind: its name, a one-line doc, and a factory for an
// empty Spec that the scenario decoder fills strictly from TOML.
type Kind struct {
	Name    string
	Doc     string
	NewSpec func() Spec
	// Keys, when set, is the schema of a kind whose keys are known only at
	// load time (a probe plugin's, from its Describe): the scenario decoder
	// checks the keys against it and hands them to the spec, which must be
	// a KeysSpec.
	Keys []plugins.Param
	// RunsCommands marks a kind that runs programs on this machine: the
	// daemon's [policy] allow_commands decides whether uploaded scenarios
	// may use it.
	RunsCommands bool
}

// KeysSpec is the Spec of a kind with Keys: it takes its keys, checked
// against the schema with defaults filled in, as values.
type KeysSpec interface {
	Spec
	SetKeys(plugins.Params)
}

// Source extends the registry at load time with kinds found elsewhere: a
// catalog of probe plugins. Its kind names hold a dot (PLUGIN.KIND) and
// registered ones never do, so a source can neither shadow nor overwrite a
// built-in kind. scenarios.Load finds a Source as an optional ability of
// the fault catalog it is given.
type Source interface {
	// ProbeKind resolves a dotted name; an error says why it cannot be
	// used (no such plugin, refused checksum, no such kind).
	ProbeKind(ctx context.Context, name string) (Kind, error)
}

// registry is the single list of probe kinds: validation, docs and --help read it.
var registry = map[string]Kind{}

func register(k Kind) {
	if k.Name == "" || k.NewSpec == nil {
		panic("probes: kind without name or factory")
	}
	if strings.Contains(k.Name, ".") {
		panic(fmt.Sprintf("probes: kind %q: a dot is kept for plugin kinds (PLUGIN.KIND)", k.Name))
	}
	if _, dup := registry[k.Name]; dup {
		panic(fmt.Sprintf("probes: kind %q registered twice", k.Name))
	}
	registry[k.Name] = k
}

// Lookup returns the kind named name.
func Lookup(name string) (Kind, bool) {
	k, ok := registry[name]
	return k, ok
}

// Kinds lists every kind, sorted by name.
func Kinds() []Kind {
	out := make([]Kind, 0, len(registry))
	for _, k := range registry {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// A Prober may also implement io.Closer to release what it holds (idle
// connections, ...). Callers should Close such a prober when they are done.

// Duration is a Go duration in TOML as a string ("500ms", "2m").
type Duration struct{ time.Duration }

// UnmarshalText reads a Go duration such as "500ms".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration: %q (use Go durations such as \"500ms\" or \"2m\")", string(b))
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as Go prints it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// InvalidError is returned by Build when the spec does not validate. It
// keeps every field error so callers can report them all.
type InvalidError struct {
	Probe  string
	Fields []FieldError
}

func (e *InvalidError) Error() string {
	msgs := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		msgs[i] = f.Error()
	}
	return fmt.Sprintf("probe %s: invalid spec: %s", e.Probe, strings.Join(msgs, "; "))
}

// Unwrap lets errors.As find each FieldError.
func (e *InvalidError) Unwrap() []error {
	out := make([]error, len(e.Fields))
	for i, f := range e.Fields {
		out[i] = f
	}
	return out
}

// validated returns an *InvalidError for name when errs is not empty.
func validated(name string, errs []FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	return &InvalidError{Probe: name, Fields: errs}
}

// measure runs one attempt and turns its outcome into a Sample: Time is the
// attempt's start, Latency its duration, OK whether attempt returned nil.
// The value is kept even when the attempt fails (a 503 is still a status).
func measure(ctx context.Context, name string, attempt func(context.Context) (float64, error)) Sample {
	start := time.Now()
	v, err := attempt(ctx)
	s := Sample{Probe: name, Time: start, Latency: time.Since(start), OK: err == nil, Value: v}
	if err != nil {
		s.Err = reason(ctx, err)
	}
	return s
}

// reason is the short, human text for a failed attempt. When the attempt's
// context ended, that is what matters, so it leads the message.
func reason(ctx context.Context, err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is in the spec already; keep the message short
	}
	cerr := ctx.Err()
	if cerr == nil || errors.Is(err, cerr) {
		if errors.Is(err, context.DeadlineExceeded) {
			return "timed out: " + err.Error()
		}
		return err.Error()
	}
	if errors.Is(cerr, context.DeadlineExceeded) {
		return "timed out: context deadline exceeded (" + err.Error() + ")"
	}
	return "canceled: " + err.Error()
}
