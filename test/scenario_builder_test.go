package test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// scenario is a scenario file for an end-to-end test. What the tests share
// has a field; what only one test has is TOML text (Extra). toml renders
// it, scenarioFile writes it.
type scenario struct {
	Name       string
	Postmortem string // [postmortem] id; none when ""
	Steady     string // steady.duration
	Probes     []probe
	SLOs       []objective
	Faults     []fault
	Within     string // recovery.recover_within
	Hold       string // recovery.hold_for
	Recovery   keys   // more [recovery] keys (measure_from)
	Runbook    *runbook
	Extra      string // TOML at the end: [safety], ...
}

// probe is one [[probe]]; Keys are its kind's own.
type probe struct {
	Name, Kind, Interval, Timeout string
	Keys                          keys
}

// objective is one [[slo]], on availability.
type objective struct {
	Name, Probe  string
	Availability float64
	Window       string
}

// fault is one [[fault]]; Keys are the rest of its own (duration, after).
type fault struct {
	Name, Plugin, Action string
	Keys, Target, Params keys
}

// runbook is [runbook] with its steps.
type runbook struct {
	RTO           string
	Before, Steps []step
	DataCheck     *step
}

// step is one runbook step; Keys are its kind's own.
type step struct {
	Name, Kind string
	Keys       keys
}

// keys are TOML keys and their values (string, int, float64, bool,
// []string or keys, an inline table), written in the order of their names.
type keys map[string]any

// healthProbe is the probe most tests judge a target by: "health", an
// http GET of addr's /healthz.
func healthProbe(addr, interval, timeout string) probe {
	return probe{Name: "health", Kind: "http", Interval: interval, Timeout: timeout, Keys: keys{"url": "http://" + addr + "/healthz"}}
}

// available is the SLO on the health probe.
func available(pct float64, window string) objective {
	return objective{Name: "available", Probe: "health", Availability: pct, Window: window}
}

// healthScenario is a scenario judged by the health probe every 50ms
// (timeout 300ms) and its SLO at 100% over the steady phase.
func healthScenario(name, addr, steady string) scenario {
	return scenario{Name: name, Steady: steady, Probes: []probe{healthProbe(addr, "50ms", "300ms")}, SLOs: []objective{available(100, steady)}}
}

// aliveScenario has a fault whose effect a test checks for itself: its
// probe (a command that succeeds) always holds.
func aliveScenario(name string, f fault) scenario {
	return scenario{Name: name, Steady: "200ms",
		Probes: []probe{{Name: "alive", Kind: "cmd", Interval: "100ms", Timeout: "1s", Keys: keys{"command": []string{"true"}}}},
		SLOs:   []objective{{Name: "alive", Probe: "alive", Availability: 100, Window: "200ms"}},
		Faults: []fault{f}, Within: "5s", Hold: "200ms"}
}

// command is a command step.
func command(name string, argv ...string) step {
	return step{Name: name, Kind: "command", Keys: keys{"command": argv}}
}

// toml is the scenario file.
func (s scenario) toml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "version = 1\nname = %s\n", value(s.Name))
	if s.Postmortem != "" {
		fmt.Fprintf(&b, "[postmortem]\nid = %s\n", value(s.Postmortem))
	}
	fmt.Fprintf(&b, "[steady]\nduration = %s\n", value(s.Steady))
	for _, p := range s.Probes {
		b.WriteString("[[probe]]\n")
		keys{"name": p.Name, "kind": p.Kind, "interval": p.Interval, "timeout": p.Timeout}.write(&b, "name", "kind", "interval", "timeout")
		p.Keys.write(&b)
	}
	for _, o := range s.SLOs {
		b.WriteString("[[slo]]\n")
		keys{"name": o.Name, "probe": o.Probe, "availability": o.Availability, "window": o.Window}.write(&b, "name", "probe", "availability", "window")
	}
	for _, f := range s.Faults {
		b.WriteString("[[fault]]\n")
		keys{"name": f.Name, "plugin": f.Plugin, "action": f.Action}.write(&b, "name", "plugin", "action")
		f.Keys.write(&b)
		f.Target.table(&b, "fault.target")
		f.Params.table(&b, "fault.params")
	}
	b.WriteString("[recovery]\n")
	keys{"recover_within": s.Within, "hold_for": s.Hold}.write(&b, "recover_within", "hold_for")
	s.Recovery.write(&b)
	if rb := s.Runbook; rb != nil {
		keys{"rto": rb.RTO}.table(&b, "runbook")
		for _, st := range rb.Before {
			st.write(&b, "[[runbook.before]]")
		}
		for _, st := range rb.Steps {
			st.write(&b, "[[runbook.step]]")
		}
		if rb.DataCheck != nil {
			rb.DataCheck.write(&b, "[runbook.data_check]")
		}
	}
	b.WriteString(s.Extra)
	return b.String()
}

func (st step) write(b *strings.Builder, header string) {
	b.WriteString(header + "\n")
	keys{"name": st.Name, "kind": st.Kind}.write(b, "name", "kind")
	st.Keys.write(b)
}

// table writes k as [name], unless k is empty.
func (k keys) table(b *strings.Builder, name string) {
	if len(k) > 0 {
		b.WriteString("[" + name + "]\n")
		k.write(b)
	}
}

// write writes the keys named in order, or all in the order of their names,
// leaving out empty strings.
func (k keys) write(b *strings.Builder, order ...string) {
	if order == nil {
		for name := range k {
			order = append(order, name)
		}
		slices.Sort(order)
	}
	for _, name := range order {
		if v, ok := k[name]; ok && v != "" {
			fmt.Fprintf(b, "%s = %s\n", name, value(v))
		}
	}
}

// value is v as a TOML value.
func value(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case float64:
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case keys:
		var b strings.Builder
		v.write(&b)
		return "{" + strings.Join(strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n"), ", ") + "}"
	default: // int, bool
		return fmt.Sprint(v)
	}
}

// scenarioFile writes s into a file of its own.
func scenarioFile(t testing.TB, s scenario) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scenario.toml")
	if err := os.WriteFile(path, []byte(s.toml()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// lineOf is the line (from 1) of the first line of the file at path that
// starts with prefix.
func lineOf(t testing.TB, path, prefix string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line starting %q", path, prefix)
	return 0
}
