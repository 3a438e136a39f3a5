package plugins

import (
	"context"
	"os"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/chaosctl/chaosctl/plugins/proto/faultpb"
)

// Handshake is what host and plugin must agree on before they talk. Bump
// ProtocolVersion on a breaking change to proto/fault.proto.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "CHAOSCTL_PLUGIN",
	MagicCookieValue: "fault-v1",
}

// PluginName is the one plugin a chaosctl plugin process serves.
const PluginName = "fault"

// PluginMap is the go-plugin plugin set for a host (Impl nil) or, with
// Impl set, a plugin process.
func PluginMap(impl Fault) map[string]goplugin.Plugin {
	return map[string]goplugin.Plugin{PluginName: &GRPCPlugin{Impl: impl}}
}

// GRPCPlugin carries Fault over gRPC for go-plugin.
type GRPCPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	Impl Fault
}

var _ goplugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the plugin's Fault on s.
func (p *GRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	faultpb.RegisterFaultServer(s, &grpcServer{impl: p.Impl})
	return nil
}

// GRPCClient returns a Fault that calls the plugin over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return NewGRPCClient(conn), nil
}

// Serve runs f as a plugin process. It is the whole main of a third-party
// plugin:
//
//	func main() { plugins.Serve(myfault.New()) }
//
// The process exits when its host goes away.
func Serve(f Fault) {
	watchParent()
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         PluginMap(f),
		GRPCServer:      goplugin.DefaultGRPCServer,
	})
}

// watchParent exits the plugin when its host dies, as a second line after
// the host's Pdeathsig (which a plugin launched by other means lacks).
func watchParent() {
	ppid := os.Getppid()
	go func() {
		for range time.Tick(250 * time.Millisecond) {
			if os.Getppid() != ppid {
				os.Exit(3)
			}
		}
	}()
}
