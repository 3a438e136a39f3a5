package kubernetes

import (
	"github.com/chaosctl/chaosctl/plugins"
)

// latency delays a pod's traffic, or caps its rate: the node agent's
// latency plugin adds a netem root qdisc on the pod's interface, inside
// its network namespace (which all its containers share). The node's
// kernel must have sch_netem; without it the agent refuses, in the latency
// plugin's own words. A hostNetwork pod is refused by the latency plugin
// itself: netem there would delay the node.

var latencyAction = agentOnly("latency",
	"delay a pod's egress traffic (with jitter) and/or cap its rate, with netem in the pod's network namespace, for the fault's duration; the node's kernel needs sch_netem",
	&inPod{
		plugin: "latency", action: "delay", selectorKey: "name",
		params: []nodeParam{
			{Param: plugins.Param{Name: "delay", Type: plugins.TypeDuration, Doc: "added latency on the pod's egress"}, to: "delay"},
			{Param: plugins.Param{Name: "jitter", Type: plugins.TypeDuration, Doc: "random variation, +-; at most the delay"}, to: "jitter"},
			{Param: plugins.Param{Name: "rate", Type: plugins.TypeString, Doc: "bandwidth cap, tc syntax: \"1mbit\", \"500kbit\", \"2mbps\""}, to: "rate"},
			{Param: plugins.Param{Name: "device", Type: plugins.TypeString, Default: "eth0", Doc: "interface inside the pod"}, to: "device"},
		},
		fixed: plugins.Params{"mode": "netem"},
	},
	func(params plugins.Params) []error {
		_, d := params["delay"]
		_, r := params["rate"]
		if !d && !r {
			return []error{&plugins.ValidationError{Field: "params.delay", Msg: "give delay, rate or both"}}
		}
		return nil
	})
