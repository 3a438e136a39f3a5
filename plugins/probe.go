package plugins

import (
	"context"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/chaosctl/chaosctl/plugins/proto/faultpb"
)

// ProbePluginName is the go-plugin name of the probe contract. A plugin
// process may serve it beside PluginName (see ServeBoth).
const ProbePluginName = "probe"

// ProbePlugin is one probe plugin: a team's own steady-state check (a
// queue depth, a replication lag) behind the same process boundary as a
// fault. Every method takes the caller's context; Sample must return by
// its deadline, which is the probe's timeout.
type ProbePlugin interface {
	// Describe lists the plugin's probe kinds and their keys; scenario
	// validation, `chaosctl plugins` and docs read it.
	Describe(ctx context.Context) (ProbeDescriptor, error)
	// Validate checks a probe's keys beyond the schema in Describe. It
	// returns *ValidationError values naming the key.
	Validate(ctx context.Context, kind string, spec Params) error
	// Sample takes one observation. An error is for a call that could not
	// be made at all; a check that fails is a ProbeSample with OK false.
	Sample(ctx context.Context, req SampleRequest) (ProbeSample, error)
}

// SampleRequest is one observation asked of a probe plugin.
type SampleRequest struct {
	Kind  string // the plugin's kind name, without the plugin's prefix
	Probe string // the scenario's name for the probe
	Spec  Params // the probe's keys, checked against the kind's schema
}

// ProbeSample is what a probe plugin observed.
type ProbeSample struct {
	OK      bool
	Latency time.Duration // 0: the host measures the call
	Value   float64
	Err     string // why it is not ok
}

// ProbeDescriptor is what a probe plugin says about itself.
type ProbeDescriptor struct {
	Name    string      `json:"name"`
	Version string      `json:"version"`
	Doc     string      `json:"doc"`
	Kinds   []ProbeKind `json:"kinds"`
}

// Kind looks up a kind by name.
func (d ProbeDescriptor) Kind(name string) (ProbeKind, bool) {
	for _, k := range d.Kinds {
		if k.Name == name {
			return k, true
		}
	}
	return ProbeKind{}, false
}

// ProbeKind is one probe kind a plugin serves, with its keys' schema.
type ProbeKind struct {
	Name string  `json:"name"`
	Doc  string  `json:"doc"`
	Keys []Param `json:"keys"`
}

// ProbeGRPCPlugin carries ProbePlugin over gRPC for go-plugin.
type ProbeGRPCPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	Impl ProbePlugin
}

var _ goplugin.GRPCPlugin = (*ProbeGRPCPlugin)(nil)

// GRPCServer registers the plugin's ProbePlugin on s.
func (p *ProbeGRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	faultpb.RegisterProbeServer(s, &probeServer{impl: p.Impl})
	return nil
}

// GRPCClient returns a ProbePlugin that calls the plugin over conn.
func (p *ProbeGRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return NewProbeClient(conn), nil
}

// HostPluginMap is the plugin set a host dispenses from: both contracts.
// A process that serves only one answers the other's calls Unimplemented.
func HostPluginMap() map[string]goplugin.Plugin {
	return map[string]goplugin.Plugin{PluginName: &GRPCPlugin{}, ProbePluginName: &ProbeGRPCPlugin{}}
}

// ServeProbe runs p as a probe plugin process; it is the whole main of a
// third-party probe plugin:
//
//	func main() { plugins.ServeProbe(myprobe.New()) }
func ServeProbe(p ProbePlugin) { ServeBoth(nil, p) }

// ServeBoth runs a plugin process serving a fault, a probe or both (a nil
// one is not served).
func ServeBoth(f Fault, p ProbePlugin) {
	set := map[string]goplugin.Plugin{}
	if f != nil {
		set[PluginName] = &GRPCPlugin{Impl: f}
	}
	if p != nil {
		set[ProbePluginName] = &ProbeGRPCPlugin{Impl: p}
	}
	watchParent()
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         set,
		GRPCServer:      goplugin.DefaultGRPCServer,
	})
}
