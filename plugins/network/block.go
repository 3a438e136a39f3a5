package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/plugins"
)

var blockAction = &action{
	Action: plugins.Action{
		Name: "block", Reversible: true, Selector: selector(),
		Doc: "cut the target off from given peers (cidrs, named containers) and/or ports, both ways, for the fault's duration: a partial partition, everyone else still gets through",
		Params: []plugins.Param{
			cidrsParam, portsParam,
			{Name: "containers", Type: plugins.TypeStrings, Doc: "peer containers by name or id: their addresses on all their networks"},
			{Name: "direction", Type: plugins.TypeString, Default: string(Both), Enum: []string{string(Ingress), string(Egress), string(Both)},
				Doc: "block what the target receives (ingress), sends (egress) or both"},
			{Name: "reject", Type: plugins.TypeBool, Default: false, Doc: "answer with a TCP reset or ICMP port unreachable instead of dropping silently"},
		},
	},
	validate: func(p plugins.Params) []error {
		m, errs := parseMatch(p)
		if _, err := direction(p, Both); err != nil {
			errs = append(errs, err)
		}
		names, err := strList(p, "containers")
		if err != nil {
			errs = append(errs, err)
		}
		if len(errs) == 0 && len(m.CIDRs) == 0 && len(m.Ports) == 0 && len(names) == 0 {
			errs = append(errs, fieldError("params.cidrs", "give at least one of cidrs, ports, containers (blocking everything is not a partition)"))
		}
		return errs
	},
	plan: func(ctx context.Context, f *Fault, p plugins.Params, _ nsTarget, _ *revertData) (plan, error) {
		m, errs := parseMatch(p)
		dir, err := direction(p, Both)
		if err = errors.Join(append(errs, err)...); err != nil {
			return plan{}, err
		}
		names, err := strList(p, "containers")
		if err != nil {
			return plan{}, err
		}
		var peers []string
		if len(names) > 0 {
			e, err := f.eng(ctx)
			if err != nil {
				return plan{}, fmt.Errorf("params.containers: %w", err)
			}
			nets, err := containerPeers(ctx, e, names)
			if err != nil {
				return plan{}, err
			}
			for _, n := range nets {
				m.CIDRs = append(m.CIDRs, n)
			}
			peers = names
		}
		return blockPlan(m, dir, reject(p), peers), nil
	},
}

func reject(p plugins.Params) bool { b, _ := p["reject"].(bool); return b }

func blockPlan(m Match, dir Direction, rej bool, peers []string) plan {
	v := Drop
	if rej {
		v = Reject
	}
	s := fmt.Sprintf("%s %s", v, dir)
	if w := m.String(); w != "" {
		s += " " + w
	}
	if len(peers) > 0 {
		s += " (" + strings.Join(peers, ", ") + ")"
	}
	return plan{Rules: m.rules(dir, Rule{Verdict: v}), Summary: s}
}

// containerPeers resolves container names to their addresses on every
// network they are on. A container that is not running is an error: its
// addresses are not its to keep.
func containerPeers(ctx context.Context, e dockerengine.Engine, names []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, name := range names {
		c, err := e.Inspect(ctx, name)
		if err != nil {
			return nil, fieldError("params.containers", fmt.Sprintf("%s: %v", name, err))
		}
		if !c.Running {
			return nil, fieldError("params.containers", fmt.Sprintf("container %s is %s, not running", c.Name, c.State))
		}
		n := 0
		for _, ep := range c.Networks {
			for _, a := range []string{ep.IPv4, ep.IPv6} {
				if a == "" {
					continue
				}
				ipn, err := parseCIDR(a)
				if err != nil {
					return nil, fmt.Errorf("params.containers: %s on %s: %w", c.Name, ep.NetworkName, err)
				}
				out = append(out, ipn)
				n++
			}
		}
		if n == 0 {
			return nil, fieldError("params.containers", fmt.Sprintf("container %s has no address on any network", c.Name))
		}
	}
	return out, nil
}
