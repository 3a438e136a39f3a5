package daemon

import (
	"fmt"

	"github.com/chaosctl/chaosctl/probes"
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
		if _, ok := p.Spec.(*probes.CmdSpec); ok {
			at(fmt.Sprintf("probe[%d].kind", i), fmt.Sprintf("probe %q runs a command (kind cmd)", p.Name))
		}
	}
	if rb := sc.Runbook; rb != nil {
		steps := func(path string, list []scenarios.Step) {
			for i, st := range list {
				if st.Kind == scenarios.StepCommand {
					at(fmt.Sprintf("%s[%d].kind", path, i), fmt.Sprintf("runbook step %q runs a command (kind command)", st.Name))
				}
			}
		}
		steps("runbook.before", rb.Before)
		steps("runbook.step", rb.Steps)
		if dc := rb.DataCheck; dc != nil && dc.Kind == scenarios.StepCommand {
			at("runbook.data_check.kind", fmt.Sprintf("runbook data check %q runs a command (kind command)", dc.Name))
		}
	}
	return out
}
