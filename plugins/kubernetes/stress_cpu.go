package kubernetes

import (
	"github.com/chaosctl/chaosctl/plugins"
)

// stress-cpu burns CPU inside a pod's container: the node agent's stress
// plugin starts its workers in the container's cgroup, so the container's
// CPU limit and shares apply to them as to the container's own processes.

var stressCPUAction = agentOnly("stress-cpu",
	"run workers that each keep one CPU busy at load percent, in the cgroup of a pod's container, for the fault's duration",
	&inPod{
		plugin: "stress", action: "cpu", selectorKey: "container",
		params: []nodeParam{
			{Param: plugins.Param{Name: "workers", Type: plugins.TypeInt, Default: int64(1), Min: new(1.0), Max: new(256.0), Doc: "worker processes, one CPU each"}, to: "workers"},
			{Param: plugins.Param{Name: "load", Type: plugins.TypeFloat, Default: float64(100), Min: new(1.0), Max: new(100.0), Doc: "percent of one CPU each worker uses"}, to: "load"},
		},
	}, nil)
