package scenarios

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
)

// Defaults applied to keys the file leaves out.
const (
	DefaultSteadyDuration = 2 * time.Second
	DefaultProbeInterval  = time.Second
	MaxProbeTimeout       = time.Hour
	DefaultSLOWindow      = 5 * time.Second
	DefaultHoldFor        = 2 * time.Second
	DefaultStopWindow     = 10 * time.Second
	DefaultMaxTargets     = 1
	DefaultStepTimeout    = 30 * time.Second
	// MinProbeInterval is the shortest probe interval: below it a probe
	// measures its own scheduling more than the target.
	MinProbeInterval = 10 * time.Millisecond
	// MaxObserveAfter bounds recovery.observe_after: longer is a typo.
	MaxObserveAfter = 24 * time.Hour
)

var nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// validate applies defaults and checks every rule, reporting each problem.
func (d *decoder) validate(ctx context.Context, s *Scenario, cat plugins.Catalog) {
	r := d.r
	switch {
	case r.bad["version"]:
	case !d.present["version"]:
		r.add("version", "required, must be %d", Version)
	case s.Version != Version:
		r.add("version", "must be %d, got %d", Version, s.Version)
	}
	switch {
	case r.bad["name"]:
	case s.Name == "":
		r.add("name", "required")
	case !nameRe.MatchString(s.Name):
		r.add("name", "%q must match [a-z0-9][a-z0-9._-]*", s.Name)
	}
	if s.Postmortem.Date != "" {
		if _, err := time.Parse(time.DateOnly, s.Postmortem.Date); err != nil {
			r.add("postmortem.date", "%q is not a date (want YYYY-MM-DD)", s.Postmortem.Date)
		}
	}
	d.duration("steady.duration", &s.Steady.Duration, DefaultSteadyDuration, false)
	d.validateSchedule(s)

	probeIdx := d.validateProbes(s)
	d.validateSLOs(s, probeIdx)
	d.validateFaults(ctx, s, cat)
	d.validateRecovery(&s.Recovery)
	d.validateSafety(&s.Safety, probeIdx)
	if s.Runbook != nil {
		d.validateRunbook(s, probeIdx)
	}
	d.validateSteady(s)
}

// validateSteady: steady state is judged over steady.duration, so it must
// give every probe at least one sample.
func (d *decoder) validateSteady(s *Scenario) {
	if d.r.bad["steady.duration"] {
		return
	}
	steady := s.Steady.Duration.Duration
	for i, p := range s.Probes {
		if iv := p.Interval.Duration; iv > steady {
			d.r.add("steady.duration", "%s is shorter than probe[%d] %s's interval (%s): steady state would be judged without a sample", steady, i, p.Name, iv)
			return
		}
	}
}

// duration applies def when the key is absent and rejects negative values,
// and zero too when positive is set.
func (d *decoder) duration(field string, v *Duration, def time.Duration, positive bool) {
	d.durationSet(field, d.present[field], v, def, positive)
}

// durationSet is duration for a key known to be in the file (set) or not.
func (d *decoder) durationSet(field string, set bool, v *Duration, def time.Duration, positive bool) {
	switch {
	case d.r.bad[field]:
	case !set:
		v.Duration = def
	case v.Duration < 0:
		d.r.add(field, "must not be negative, got %s", v.Duration)
	case positive && v.Duration == 0:
		d.r.add(field, "must be greater than 0")
	}
}

func (d *decoder) validateProbes(s *Scenario) map[string]int {
	r := d.r
	if len(s.Probes) == 0 && !r.bad["probe"] {
		r.add("probe", "at least one [[probe]] is required")
	}
	byName := make(map[string]int, len(s.Probes))
	names := newNames(r, "probe")
	for i := range s.Probes {
		p := &s.Probes[i]
		path := indexPath("probe", i)
		f := func(k string) string { return joinKey(path, k) }
		keys := d.probeKeys[i]
		set := func(k string) bool { _, ok := keys[k]; return ok }
		if names.claim(f("name"), path, p.Name, true) {
			byName[p.Name] = i
		}
		d.durationSet(f("interval"), set("interval"), &p.Interval, DefaultProbeInterval, true)
		if iv := p.Interval.Duration; iv > 0 && iv < MinProbeInterval && !r.bad[f("interval")] {
			r.add(f("interval"), "must be at least %s, got %s", MinProbeInterval, iv)
		}
		d.durationSet(f("timeout"), set("timeout"), &p.Timeout, min(p.Interval.Duration, MaxProbeTimeout), true)
		if p.Timeout.Duration > MaxProbeTimeout {
			r.add(f("timeout"), "must be at most %s, got %s", MaxProbeTimeout, p.Timeout.Duration)
		}
		if p.Spec == nil {
			continue
		}
		for _, fe := range p.Spec.Validate() {
			field := path
			if fe.Field != "" {
				field = path + "." + fe.Field
			}
			r.add(field, "%s", fe.Msg)
		}
	}
	return byName
}

func (d *decoder) validateSLOs(s *Scenario, probeIdx map[string]int) {
	r := d.r
	if len(s.SLOs) == 0 && !r.bad["slo"] {
		r.add("slo", "at least one [[slo]] is required")
	}
	names := newNames(r, "SLO")
	for i := range s.SLOs {
		o := &s.SLOs[i]
		path := indexPath("slo", i)
		f := func(k string) string { return joinKey(path, k) }
		names.claim(f("name"), path, o.Name, true)
		d.probeRef(f("probe"), o.Probe, probeIdx)
		if o.Availability != nil {
			percent(r, f("availability"), *o.Availability)
		}
		if o.LatencyPercentile != nil {
			percent(r, f("latency_percentile"), *o.LatencyPercentile)
		}
		d.duration(f("latency_max"), &o.LatencyMax, 0, false)
		hasMax := o.LatencyMax.Duration > 0
		switch {
		case o.LatencyPercentile != nil && !hasMax && !r.bad[f("latency_max")]:
			r.add(f("latency_max"), "required with latency_percentile, must be greater than 0")
		case o.LatencyPercentile == nil && hasMax && !r.bad[f("latency_percentile")]:
			r.add(f("latency_percentile"), "required with latency_max")
		}
		if o.Availability == nil && o.LatencyPercentile == nil && !hasMax &&
			!r.bad[f("availability")] && !r.bad[f("latency_percentile")] && !r.bad[f("latency_max")] {
			r.add(path, "no objective: set availability, or latency_percentile with latency_max")
		}
		d.duration(f("window"), &o.Window, DefaultSLOWindow, true)
	}
}

// percent checks v is in (0, 100].
func percent(r *report, field string, v float64) {
	if !(v > 0 && v <= 100) || math.IsNaN(v) {
		r.add(field, "must be in (0, 100], got %g", v)
	}
}

func (d *decoder) probeRef(field, name string, probeIdx map[string]int) {
	r := d.r
	if r.bad[field] {
		return
	}
	if name == "" {
		r.add(field, "required")
		return
	}
	if _, ok := probeIdx[name]; !ok {
		known := make([]string, 0, len(probeIdx))
		for n := range probeIdx {
			known = append(known, n)
		}
		sort.Strings(known)
		r.add(field, "unknown probe %q (defined: %s)", name, strings.Join(known, ", "))
	}
}

func (d *decoder) validateRecovery(rc *Recovery) {
	r := d.r
	switch {
	case r.bad["recovery.recover_within"]:
	case !d.present["recovery.recover_within"]:
		r.add("recovery.recover_within", "required, a duration greater than 0")
	default:
		d.duration("recovery.recover_within", &rc.Within, 0, true)
	}
	d.duration("recovery.hold_for", &rc.HoldFor, DefaultHoldFor, false)
	d.enum("recovery.measure_from", &rc.MeasureFrom, "inject", "revert")
	d.duration("recovery.observe_after", &rc.ObserveAfter, rc.HoldFor.Duration, false)
	if rc.ObserveAfter.Duration > MaxObserveAfter {
		r.add("recovery.observe_after", "must be at most %s, got %s", MaxObserveAfter, rc.ObserveAfter.Duration)
	}
}

// enum applies the first choice as the default and rejects anything else.
func (d *decoder) enum(field string, v *string, choices ...string) {
	if d.r.bad[field] {
		return
	}
	if !d.present[field] {
		*v = choices[0]
		return
	}
	for _, c := range choices {
		if *v == c {
			return
		}
	}
	d.r.add(field, "must be %s, got %q", strings.Join(choices, " or "), *v)
}

func (d *decoder) validateSafety(s *Safety, probeIdx map[string]int) {
	r := d.r
	switch {
	case r.bad["safety.max_targets"]:
	case s.MaxTargets == 0:
		s.MaxTargets = DefaultMaxTargets
	case s.MaxTargets < 1:
		r.add("safety.max_targets", "must be at least 1, got %d", s.MaxTargets)
	}
	d.enum("safety.injection", &s.Injection, "parallel", "serial")
	d.enum("safety.on_empty_selection", &s.OnEmptySelection, "fail", "skip")
	for i := range s.Stop {
		c := &s.Stop[i]
		path := indexPath("safety.stop", i)
		f := func(k string) string { return joinKey(path, k) }
		d.probeRef(f("probe"), c.Probe, probeIdx)
		switch {
		case r.bad[f("max_error_ratio")]:
		case !d.present[f("max_error_ratio")]:
			r.add(f("max_error_ratio"), "required, a percentage in (0, 100]")
		default:
			percent(r, f("max_error_ratio"), c.MaxErrorRatio)
		}
		d.duration(f("window"), &c.Window, DefaultStopWindow, true)
	}
}

func (d *decoder) validateFaults(ctx context.Context, s *Scenario, cat plugins.Catalog) {
	r := d.r
	names := newNames(r, "fault")
	for i := range s.Faults {
		ft := &s.Faults[i]
		path := indexPath("fault", i)
		f := func(k string) string { return joinKey(path, k) }
		d.duration(f("after"), &ft.After, 0, false)
		d.duration(f("duration"), &ft.Duration, 0, false)
		if ft.Plugin == "" && !r.bad[f("plugin")] {
			r.add(f("plugin"), "required")
		}
		if ft.Action == "" && !r.bad[f("action")] {
			r.add(f("action"), "required")
		}
		if ft.Name == "" && !r.bad[f("name")] {
			ft.Name = fmt.Sprintf("%s-%s-%d", ft.Plugin, ft.Action, i)
		}
		names.claim(f("name"), path, ft.Name, false)
		if cat != nil && ft.Plugin != "" && ft.Action != "" {
			d.checkFault(ctx, cat, ft, path)
		}
	}
}

// checkFault checks a fault against its plugin: the action exists, params
// and target match the action's schema, and the plugin's own Validate.
func (d *decoder) checkFault(ctx context.Context, cat plugins.Catalog, ft *Fault, path string) {
	r := d.r
	f := func(k string) string { return joinKey(path, k) }
	plug, err := cat.Lookup(ctx, ft.Plugin)
	if err != nil {
		if errors.Is(err, plugins.ErrUnknownPlugin) {
			known := append([]string(nil), cat.Names()...)
			sort.Strings(known)
			r.add(f("plugin"), "unknown plugin %q (known: %s)", ft.Plugin, strings.Join(known, ", "))
		} else {
			r.add(f("plugin"), "%v", err)
		}
		return
	}
	desc, err := plug.Describe(ctx)
	if err != nil {
		r.add(f("plugin"), "describe plugin %q: %v", ft.Plugin, err)
		return
	}
	act, ok := desc.Action(ft.Action)
	if !ok {
		known := make([]string, len(desc.Actions))
		for i, a := range desc.Actions {
			known[i] = a.Name
		}
		r.add(f("action"), "unknown action %q for plugin %q (known: %s)", ft.Action, ft.Plugin, strings.Join(known, ", "))
		return
	}
	before := len(r.errs)
	ft.Params = d.checkParams(act.Params, ft.Params, f("params"), "parameter")
	ft.Target = d.checkParams(act.Selector, ft.Target, f("target"), "selector key")
	if len(r.errs) > before {
		return // the plugin may rely on its schema having been checked
	}
	if ft.Reapply && !act.Reversible {
		r.add(f("reapply"), "action %q of plugin %q is instantaneous: there is nothing held to re-inject", ft.Action, ft.Plugin)
	}
	d.pluginErrors(path, plug.Validate(ctx, ft.Action, ft.Params, ft.Target))
}

// pluginErrors maps a plugin's Validate error, possibly several joined, to
// errors on the fault's fields.
func (d *decoder) pluginErrors(path string, err error) {
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			d.pluginErrors(path, e)
		}
		return
	}
	var ve *plugins.ValidationError
	if errors.As(err, &ve) {
		field := path
		if ve.Field != "" {
			field = path + "." + ve.Field
		}
		d.r.add(field, "%s", ve.Msg)
		return
	}
	d.r.add(path, "%v", err)
}

// validateSchedule checks the daemon's keys: schedule, window, concurrency.
func (d *decoder) validateSchedule(s *Scenario) {
	r := d.r
	if s.Schedule != "" && !r.bad["schedule"] {
		if _, err := ParseSchedule(s.Schedule); err != nil {
			r.add("schedule", "%v", err)
		}
	}
	if s.Window != "" && !r.bad["window"] {
		if _, err := ParseWindow(s.Window); err != nil {
			r.add("window", "%v", err)
		}
	}
	switch s.Concurrency {
	case "":
		if !r.bad["concurrency"] {
			s.Concurrency = ConcurrencyForbid
		}
	case ConcurrencyForbid, ConcurrencyAllow, ConcurrencyReplace:
	default:
		r.add("concurrency", "must be forbid, allow or replace, got %q", s.Concurrency)
	}
}

// names checks that the names of one kind of table (probes, SLOs, faults,
// steps) are given where they are required, and unique.
type names struct {
	r    *report
	kind string
	at   map[string]string // name -> the path of the table that took it first
}

func newNames(r *report, kind string) *names {
	return &names{r: r, kind: kind, at: map[string]string{}}
}

// claim takes name for the table at path, whose name key is key, and
// reports whether it got it: not when the key is already reported bad,
// when the name is missing (an error where required), or when another
// table has it.
func (n *names) claim(key, path, name string, required bool) bool {
	prev, dup := n.at[name]
	switch {
	case n.r.bad[key]:
	case name == "":
		if required {
			n.r.add(key, "required")
		}
	case dup:
		n.r.add(key, "duplicate %s name %q (also %s)", n.kind, name, prev)
	default:
		n.at[name] = path
		return true
	}
	return false
}
