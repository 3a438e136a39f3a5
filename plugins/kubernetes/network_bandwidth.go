package kubernetes

import (
	"github.com/chaosctl/chaosctl/plugins"
)

// network-bandwidth caps a pod's egress: the node agent's network plugin
// adds a tbf root qdisc on the pod's interface, in its network namespace.

var networkBandwidthAction = agentOnly("network-bandwidth",
	"cap a pod's egress on one interface with a tbf qdisc, for the fault's duration",
	&inPod{
		plugin: "network", action: "bandwidth", selectorKey: "name",
		params: []nodeParam{
			{Param: plugins.Param{Name: "rate", Type: plugins.TypeString, Required: true, Doc: "the cap, tc syntax: \"1mbit\", \"500kbit\", \"2mbps\""}, to: "rate"},
			{Param: plugins.Param{Name: "burst", Type: plugins.TypeInt, Min: new(1.0), Doc: "bytes sent at line rate before the cap bites (default: 20ms of the rate, at least 8 KiB)"}, to: "burst"},
			{Param: plugins.Param{Name: "device", Type: plugins.TypeString, Default: "eth0", Doc: "interface inside the pod"}, to: "device"},
		},
	}, nil)
