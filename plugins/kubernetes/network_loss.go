package kubernetes

import (
	"github.com/chaosctl/chaosctl/plugins"
)

// network-loss drops a share of a pod's packets: the node agent's network
// plugin adds nftables rules (or netem) in the pod's network namespace.

var networkLossAction = agentOnly("network-loss",
	"drop a percent of a pod's packets (loopback excepted), in a direction, optionally only to or from cidrs and ports, for the fault's duration",
	&inPod{
		plugin: "network", action: "loss", selectorKey: "name",
		params: []nodeParam{
			{Param: plugins.Param{Name: "percent", Type: plugins.TypeFloat, Required: true, Min: new(0.0), Max: new(100.0), Doc: "share of packets dropped, in (0, 100], in steps of 0.01"}, to: "percent"},
			{Param: directionParam, to: "direction"},
			{Param: cidrsParam, to: "cidrs"},
			{Param: portsParam, to: "ports"},
			{Param: plugins.Param{Name: "mode", Type: plugins.TypeString, Default: "auto", Enum: []string{"auto", "nftables", "netem"},
				Doc: "nftables (a random-drop rule), netem (egress of one device, where the node's kernel has sch_netem) or auto (netem when it can do exactly what is asked, else nftables)"}, to: "mode"},
			{Param: plugins.Param{Name: "device", Type: plugins.TypeString, Default: "eth0", Doc: "netem only: interface inside the pod"}, to: "device"},
		},
	}, nil)

// Parameters the network actions share.
var (
	directionParam = plugins.Param{Name: "direction", Type: plugins.TypeString, Default: "both", Enum: []string{"ingress", "egress", "both"},
		Doc: "traffic the pod receives (ingress), sends (egress) or both"}
	cidrsParam = plugins.Param{Name: "cidrs", Type: plugins.TypeStrings, Doc: "only traffic to or from these peers (CIDRs or addresses); default all"}
	portsParam = plugins.Param{Name: "ports", Type: plugins.TypeStrings, Doc: "only TCP/UDP traffic with this port at either end, e.g. [\"5432\"]; default all"}
)
