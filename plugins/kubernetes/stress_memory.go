package kubernetes

import (
	"github.com/chaosctl/chaosctl/plugins"
)

// stress-memory holds memory inside a pod's container: the node agent's
// stress plugin starts its worker in the container's memory cgroup, so the
// memory counts against the container's limit (and may get it, or the
// worker, OOM-killed: that is the fault).

var stressMemoryAction = agentOnly("stress-memory",
	"allocate and touch mib MiB in a worker in the memory cgroup of a pod's container, counted against its limit, for the fault's duration",
	&inPod{
		plugin: "stress", action: "memory", selectorKey: "container",
		params: []nodeParam{
			{Param: plugins.Param{Name: "mib", Type: plugins.TypeInt, Required: true, Min: new(1.0), Max: new(float64(1 << 20)), Doc: "MiB to allocate and touch"}, to: "mib"},
		},
	}, nil)
