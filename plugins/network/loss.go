package network

import (
	"context"
	"fmt"

	"github.com/chaosctl/chaosctl/plugins"
)

var lossAction = &action{
	Action: plugins.Action{
		Name: "loss", Reversible: true, Selector: selector(),
		Doc: "drop a percent of the target's packets (loopback excepted), in a direction, optionally only to or from cidrs and ports",
		Params: []plugins.Param{
			{Name: "percent", Type: plugins.TypeFloat, Required: true, Min: new(0.0), Max: new(100.0), Doc: "share of packets dropped, in (0, 100], in steps of 0.01"},
			directionParam, cidrsParam, portsParam,
			{Name: "mode", Type: plugins.TypeString, Default: ModeAuto, Enum: []string{ModeAuto, ModeNftables, ModeNetem},
				Doc: "nftables (a numgen random rule), netem (egress of one device, where the kernel has sch_netem) or auto (netem when it can do exactly what is asked, else nftables)"},
			{Name: "device", Type: plugins.TypeString, Default: "eth0", Doc: "netem only: interface in the target's namespace"},
		},
	},
	validate: func(p plugins.Params) []error {
		_, _, _, errs := lossParams(p)
		if m := str(p, "mode", ModeAuto); m != ModeAuto && m != ModeNetem && m != ModeNftables {
			errs = append(errs, fieldError("params.mode", fmt.Sprintf("%q: want auto, netem or nftables", m)))
		}
		return errs
	},
	plan: func(_ context.Context, _ *Fault, p plugins.Params, _ nsTarget, rd *revertData) (plan, error) {
		pct, dir, m, errs := lossParams(p)
		if len(errs) > 0 {
			return plan{}, errs[0]
		}
		if rd.Mode == ModeNetem {
			return plan{Qdisc: &qdiscSpec{NetemLoss: pct}, Summary: fmt.Sprintf("netem loss %g%% egress on %s", pct, rd.Qdisc.Device)}, nil
		}
		return lossPlan(pct, dir, m), nil
	},
}

// lossParams reads percent, direction and the match.
func lossParams(p plugins.Params) (float64, Direction, Match, []error) {
	var errs []error
	var pct float64
	switch v := p["percent"].(type) {
	case float64:
		pct = v
	case int64:
		pct = float64(v)
	case nil:
		errs = append(errs, fieldError("params.percent", "required: the share of packets to drop, in (0, 100]"))
	default:
		errs = append(errs, fieldError("params.percent", fmt.Sprintf("want a number, got %v", v)))
	}
	if p["percent"] != nil && len(errs) == 0 && !(pct > 0 && pct <= 100) {
		errs = append(errs, fieldError("params.percent", fmt.Sprintf("%g is not in (0, 100]", pct)))
	}
	dir, err := direction(p, Both)
	if err != nil {
		errs = append(errs, err)
	}
	m, merrs := parseMatch(p)
	return pct, dir, m, append(errs, merrs...)
}

// lossPlan is the nft rules of a loss: numgen random mod 10000 < percent*100.
func lossPlan(pct float64, dir Direction, m Match) plan {
	rules := m.rules(dir, Rule{NotLo: true, Percent: pct, Verdict: Drop})
	s := fmt.Sprintf("drop %g%% %s", pct, dir)
	if w := m.String(); w != "" {
		s += " " + w
	}
	return plan{Rules: rules, Summary: s}
}
