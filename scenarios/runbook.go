package scenarios

import (
	"fmt"
	"sort"
	"strings"

	"github.com/chaosctl/chaosctl/runbooks/steps"
)

// validateRunbook checks the [runbook] table: its objectives and every step.
func (d *decoder) validateRunbook(s *Scenario, probeIdx map[string]int) {
	r, rb := d.r, s.Runbook
	switch {
	case r.bad["runbook.rto"]:
	case !d.present["runbook.rto"]:
		rb.RTO = s.Recovery.Within
	default:
		d.duration("runbook.rto", &rb.RTO, 0, true)
	}
	if len(rb.Steps) == 0 && !r.bad["runbook.step"] {
		r.add("runbook", "at least one [[runbook.step]] is required: a runbook that does nothing restores nothing")
	}
	refs := stepRefs(s, probeIdx)
	names := newNames(r, "step")
	check := func(st *Step, path, defName string) {
		d.validateStep(st, path, defName, refs)
		names.claim(joinKey(path, "name"), path, st.Name, false)
	}
	for i := range rb.Before {
		check(&rb.Before[i], indexPath("runbook.before", i), fmt.Sprintf("before-%d", i))
	}
	for i := range rb.Steps {
		check(&rb.Steps[i], indexPath("runbook.step", i), fmt.Sprintf("step-%d", i))
	}
	if dc := rb.DataCheck; dc != nil {
		path := "runbook.data_check"
		if d.present[joinKey(path, "on_failure")] {
			r.add(joinKey(path, "on_failure"), "not used by the data check: its failure always fails the runbook")
		}
		if k, err := steps.Lookup(dc.Kind); err == nil && k.NoDataCheck != "" {
			r.add(joinKey(path, "kind"), "must be %s: the data check proves data survived, %s", dataCheckKinds(), k.NoDataCheck)
		}
		check(dc, path, "data-check")
	}
}

// stepRefs is what steps may name: the scenario's SLOs and its probes.
func stepRefs(s *Scenario, probeIdx map[string]int) steps.Refs {
	var refs steps.Refs
	seen := map[string]bool{}
	for _, o := range s.SLOs {
		if !seen[o.Name] {
			seen[o.Name] = true
			refs.SLOs = append(refs.SLOs, o.Name)
		}
	}
	for name := range probeIdx {
		refs.Probes = append(refs.Probes, name)
	}
	sort.Strings(refs.SLOs)
	sort.Strings(refs.Probes)
	return refs
}

// dataCheckKinds lists the kinds a data check may be: "command or http".
func dataCheckKinds() string {
	var ok []string
	for _, k := range steps.Kinds() {
		if k.NoDataCheck == "" {
			ok = append(ok, k.Name)
		}
	}
	if len(ok) < 2 {
		return strings.Join(ok, "")
	}
	return strings.Join(ok[:len(ok)-1], ", ") + " or " + ok[len(ok)-1]
}

// validateStep applies a step's common defaults, checks its keys belong to
// its kind, and has the kind check them.
func (d *decoder) validateStep(st *Step, path, defName string, refs steps.Refs) {
	r := d.r
	f := func(k string) string { return joinKey(path, k) }
	switch {
	case r.bad[f("name")]:
	case !d.present[f("name")]:
		st.Name = defName
	case !nameRe.MatchString(st.Name):
		r.add(f("name"), "%q must match [a-z0-9][a-z0-9._-]*", st.Name)
	}
	d.duration(f("timeout"), &st.Timeout, DefaultStepTimeout, true)
	d.enum(f("on_failure"), &st.OnFailure, "abort", "continue")

	kind, err := steps.Lookup(st.Kind)
	switch {
	case r.bad[f("kind")]:
		return
	case st.Kind == "":
		r.add(f("kind"), "required (known: %s)", strings.Join(steps.Names(), ", "))
		return
	case err != nil:
		r.add(f("kind"), "%v", err)
		return
	}
	for _, other := range steps.Kinds() {
		if other.Name == kind.Name {
			continue
		}
		for _, key := range other.Keys {
			if d.present[f(key)] {
				r.add(f(key), "not a key of step kind %q (it takes: %s)", kind.Name, strings.Join(kind.Keys, ", "))
			}
		}
	}
	// A key whose value could not be decoded has its error already, and
	// report.add keeps one error per key; an error about the step as a
	// whole would only follow from it.
	undecoded := false
	for _, key := range kind.Keys {
		undecoded = undecoded || r.bad[f(key)]
	}
	for _, fe := range kind.Spec.Validate(st, refs) {
		switch {
		case fe.Field != "":
			r.add(f(fe.Field), "%s", fe.Msg)
		case !undecoded:
			r.add(path, "%s", fe.Msg)
		}
	}
}
