package scenarios

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
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
	slos := map[string]bool{}
	for _, o := range s.SLOs {
		slos[o.Name] = true
	}
	names := map[string]string{}
	check := func(st *Step, path, defName string) {
		d.validateStep(st, path, defName, probeIdx, slos)
		if st.Name == "" {
			return
		}
		if prev, dup := names[st.Name]; dup {
			r.add(joinKey(path, "name"), "duplicate step name %q (also %s)", st.Name, prev)
			return
		}
		names[st.Name] = path
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
		if dc.Kind == StepWait {
			r.add(joinKey(path, "kind"), "must be command or http: the data check proves data survived, a wait proves nothing about it")
		}
		check(dc, path, "data-check")
	}
}

// validateStep applies a step's defaults and checks its keys against its kind.
func (d *decoder) validateStep(st *Step, path, defName string, probeIdx map[string]int, slos map[string]bool) {
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

	kinds := make([]string, 0, len(StepKinds))
	for k := range StepKinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	own, ok := StepKinds[st.Kind]
	switch {
	case r.bad[f("kind")]:
		return
	case st.Kind == "":
		r.add(f("kind"), "required (known: %s)", strings.Join(kinds, ", "))
		return
	case !ok:
		r.add(f("kind"), "unknown step kind %q (known: %s)", st.Kind, strings.Join(kinds, ", "))
		return
	}
	for _, k := range kinds {
		for _, key := range StepKinds[k] {
			if d.present[f(key)] && !slices.Contains(own, key) {
				r.add(f(key), "not a key of step kind %q (it takes: %s)", st.Kind, strings.Join(own, ", "))
			}
		}
	}
	regex := func(key, re string) {
		if re == "" || r.bad[f(key)] {
			return
		}
		if _, err := regexp.Compile(re); err != nil {
			r.add(f(key), "bad regexp: %v", err)
		}
	}
	switch st.Kind {
	case StepCommand:
		if (len(st.Command) == 0 || st.Command[0] == "") && !r.bad[f("command")] {
			r.add(f("command"), `required: the program and its arguments, e.g. ["cp", "backup.db", "data.db"]`)
		}
		for k := range st.Env {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				r.add(f("env"), "bad variable name %q", k)
			}
		}
		switch {
		case r.bad[f("expect_exit")]:
		case st.ExpectExit == nil:
			st.ExpectExit = new(int)
		case *st.ExpectExit < 0 || *st.ExpectExit > 255:
			r.add(f("expect_exit"), "%d is not an exit code (0..255)", *st.ExpectExit)
		}
		regex("stdout_regex", st.StdoutRegex)
	case StepHTTP:
		switch u, err := url.Parse(st.URL); {
		case r.bad[f("url")]:
		case st.URL == "":
			r.add(f("url"), "required")
		case err != nil:
			r.add(f("url"), "%v", err)
		case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
			r.add(f("url"), "%q must be an absolute http:// or https:// URL", st.URL)
		}
		if st.Method == "" {
			st.Method = "GET"
		}
		if len(st.ExpectStatus) == 0 && !r.bad[f("expect_status")] {
			st.ExpectStatus = []int{200}
		}
		for _, c := range st.ExpectStatus {
			if c < 100 || c > 599 {
				r.add(f("expect_status"), "must be HTTP status codes, got %d", c)
			}
		}
		regex("body_regex", st.BodyRegex)
	case StepWait:
		switch {
		case r.bad[f("slo")] || r.bad[f("probe")]:
		case (st.SLO == "") == (st.Probe == ""):
			r.add(path, "a wait step needs exactly one of slo (wait until it holds) or probe (wait until it answers ok)")
		case st.SLO != "" && !slos[st.SLO]:
			known := make([]string, 0, len(slos))
			for n := range slos {
				known = append(known, n)
			}
			sort.Strings(known)
			r.add(f("slo"), "unknown SLO %q (defined: %s)", st.SLO, strings.Join(known, ", "))
		case st.Probe != "":
			d.probeRef(f("probe"), st.Probe, probeIdx)
		}
	}
}
