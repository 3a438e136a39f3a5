// Package probes measures steady state: each probe kind (one file each)
// turns a small TOML spec into a Prober that takes one timed Sample.
package probes

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Sample is one observation of a probe.
type Sample struct {
	Probe   string        `json:"probe"`
	Time    time.Time     `json:"time"`            // when the attempt started
	OK      bool          `json:"ok"`              // the probe's assertions held
	Latency time.Duration `json:"latency_ns"`      // how long the attempt took
	Value   float64       `json:"value,omitempty"` // the measured figure (status code, CPU %, ...)
	Err     string        `json:"error,omitempty"` // why it was not ok
}

// End is when the attempt finished: the instant its outcome became known.
func (s Sample) End() time.Time { return s.Time.Add(s.Latency) }

// Prober takes one sample. It must honour ctx and never block past it.
type Prober interface {
	Probe(ctx context.Context) Sample
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
}

// registry is the single list of probe kinds: validation, docs and --help read it.
var registry = map[string]Kind{}

func register(k Kind) {
	if k.Name == "" || k.NewSpec == nil {
		panic("probes: kind without name or factory")
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
