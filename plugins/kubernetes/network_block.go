package kubernetes

import (
	"github.com/chaosctl/chaosctl/plugins"
)

// network-block cuts a pod off from given peers or ports, both ways by
// default: the node agent's network plugin adds nftables rules in the
// pod's network namespace. Unlike network-policy it needs no CNI support,
// and it reaches peers outside the cluster.

var networkBlockAction = agentOnly("network-block",
	"cut a pod off from given peers (cidrs) and/or ports, for the fault's duration: a partial partition, everyone else still gets through",
	&inPod{
		plugin: "network", action: "block", selectorKey: "name",
		params: []nodeParam{
			{Param: cidrsParam, to: "cidrs"},
			{Param: portsParam, to: "ports"},
			{Param: plugins.Param{Name: "direction", Type: plugins.TypeString, Default: "both", Enum: []string{"ingress", "egress", "both"},
				Doc: "block what the pod receives (ingress), sends (egress) or both"}, to: "direction"},
			{Param: plugins.Param{Name: "reject", Type: plugins.TypeBool, Default: false, Doc: "answer with a TCP reset or ICMP port unreachable instead of dropping silently"}, to: "reject"},
		},
	},
	func(params plugins.Params) []error {
		_, c := params["cidrs"]
		_, p := params["ports"]
		if !c && !p {
			return []error{&plugins.ValidationError{Field: "params.cidrs", Msg: "give cidrs, ports or both (blocking everything is not a partition)"}}
		}
		return nil
	})
