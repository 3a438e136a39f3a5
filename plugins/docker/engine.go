package docker

import (
	"context"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
)

// The Docker Engine adapter (the Engine seam, container selection, the
// init pid check) lives in internal/dockerengine, shared with the latency
// and network faults and the container probe. These names keep the
// plugin's own code short.
type (
	Engine    = dockerengine.Engine
	Container = dockerengine.Container
	Endpoint  = dockerengine.Endpoint
	Mount     = dockerengine.Mount
	Event     = dockerengine.Event
	Lazy      = dockerengine.Lazy
)

var (
	ErrNotFound    = dockerengine.ErrNotFound
	ErrUnreachable = dockerengine.ErrUnreachable
)

// Connect dials the Engine (DOCKER_HOST or the default socket).
func Connect(ctx context.Context) (Engine, error) { return dockerengine.Connect(ctx) }
