// Package builtin is the single list of fault plugins that ship inside the
// chaosctl binary.
package builtin

import (
	"context"
	"fmt"
	"sort"

	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/plugins/disk"
	"github.com/chaosctl/chaosctl/plugins/docker"
	"github.com/chaosctl/chaosctl/plugins/kubernetes"
	"github.com/chaosctl/chaosctl/plugins/latency"
	"github.com/chaosctl/chaosctl/plugins/network"
	"github.com/chaosctl/chaosctl/plugins/process"
	"github.com/chaosctl/chaosctl/plugins/stress"
)

// factories is the one list of built-in fault kinds.
var factories = map[string]func() plugins.Fault{
	"process":    func() plugins.Fault { return process.New() },
	"docker":     func() plugins.Fault { return docker.New() },
	"kubernetes": func() plugins.Fault { return kubernetes.New() },
	"latency":    func() plugins.Fault { return latency.New() },
	"network":    func() plugins.Fault { return network.New() },
	"disk":       func() plugins.Fault { return disk.New() },
	"stress":     func() plugins.Fault { return stress.New() },
}

// Names lists the built-in plugins, sorted.
func Names() []string {
	out := make([]string, 0, len(factories))
	for n := range factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// New returns a fresh instance of the built-in plugin name.
func New(name string) (plugins.Fault, error) {
	f, ok := factories[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %v)", plugins.ErrUnknownPlugin, name, Names())
	}
	return f(), nil
}

// InProcess is a catalog of the built-in plugins running inside this
// process: unit tests use it; chaosctl runs each plugin in its own process
// (plugins/host).
type InProcess struct{}

var _ plugins.Catalog = InProcess{}

func (InProcess) Lookup(_ context.Context, name string) (plugins.Fault, error) { return New(name) }
func (InProcess) Names() []string                                              { return Names() }
