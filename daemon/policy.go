package daemon

import (
	"fmt"

	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/runbooks/steps"
	"github.com/chaosctl/chaosctl/scenarios"
)

// capTargets applies policy.max_targets to sc: the run gets the lower of
// the scenario's max_targets and the policy's. sc itself is shared by
// every run of it and is not changed; a capped copy is returned with the
// note the journal keeps.
func capTargets(sc *scenarios.Scenario, p Policy) (*scenarios.Scenario, string) {
	if p.MaxTargets == 0 || sc.Safety.MaxTargets <= p.MaxTargets {
		return sc, ""
	}
	c := *sc
	c.Safety.MaxTargets = p.MaxTargets
	return &c, fmt.Sprintf("policy: max_targets = %d (the daemon's [policy]) caps the scenario's max_targets = %d", p.MaxTargets, sc.Safety.MaxTargets)
}

// commandUses lists, as file:line:col: field: message, every part of sc
// that runs a command: cmd probes and runbook command steps.
func commandUses(sc *scenarios.Scenario) []string {
	var out []string
	at := func(field, msg string) {
		p := sc.Pos.Lookup(field)
		out = append(out, (&scenarios.Error{File: sc.Path, Line: p.Line, Col: p.Col, Field: field, Msg: msg}).Error())
	}
	for i, p := range sc.Probes {
		if k, ok := probes.Lookup(p.Kind); ok && k.RunsCommands {
			at(fmt.Sprintf("probe[%d].kind", i), fmt.Sprintf("probe %q runs a command (kind %s)", p.Name, p.Kind))
		}
	}
	runs := func(kind string) bool {
		k, err := steps.Lookup(kind)
		return err == nil && k.RunsCommands
	}
	if rb := sc.Runbook; rb != nil {
		list := func(path string, list []scenarios.Step) {
			for i, st := range list {
				if runs(st.Kind) {
					at(fmt.Sprintf("%s[%d].kind", path, i), fmt.Sprintf("runbook step %q runs a command (kind %s)", st.Name, st.Kind))
				}
			}
		}
		list("runbook.before", rb.Before)
		list("runbook.step", rb.Steps)
		if dc := rb.DataCheck; dc != nil && runs(dc.Kind) {
			at("runbook.data_check.kind", fmt.Sprintf("runbook data check %q runs a command (kind %s)", dc.Name, dc.Kind))
		}
	}
	return out
}
