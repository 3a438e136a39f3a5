package kubernetes

import (
	"github.com/chaosctl/chaosctl/plugins"
)

// network-dns makes name resolution fail inside a pod: the node agent's
// network plugin drops (or refuses) port 53 to the resolvers of the
// container's /etc/resolv.conf (the cluster DNS, as the kubelet wrote it),
// in the pod's network namespace.

var networkDNSAction = agentOnly("network-dns",
	"make a pod's name resolution fail: drop (or refuse) its DNS queries to its resolvers (its /etc/resolv.conf), or only those for given names, for the fault's duration",
	&inPod{
		plugin: "network", action: "dns", selectorKey: "name",
		params: []nodeParam{
			{Param: plugins.Param{Name: "resolvers", Type: plugins.TypeStrings, Doc: "resolver addresses to cut (default: every nameserver in the container's /etc/resolv.conf)"}, to: "resolvers"},
			{Param: plugins.Param{Name: "refuse", Type: plugins.TypeBool, Default: false, Doc: "reject (fails fast) instead of dropping (times out)"}, to: "refuse"},
			{Param: plugins.Param{Name: "names", Type: plugins.TypeStrings, Doc: "only queries for these exact names fail (any case; not their subdomains); other names resolve (default: every query)"}, to: "names"},
		},
	}, nil)
