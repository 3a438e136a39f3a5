package docker

import (
	"context"
	"fmt"

	"github.com/chaosctl/chaosctl/plugins"
)

// pause freezes every process of the container (cgroup freezer) for the
// fault's duration; revert unpauses it.
var pauseAction = &action{
	Action: plugins.Action{
		Name:       "pause",
		Doc:        "freeze the container (docker pause) for the fault's duration; unpause on revert",
		Reversible: true,
	},
	onlyRunning: true,
	inject: func(ctx context.Context, e Engine, c Container, _ plugins.Params, _ *revertData) error {
		if err := e.Pause(ctx, c.ID); err != nil {
			return fmt.Errorf("pause %s: %w", c.Name, err)
		}
		return nil
	},
	revert: func(ctx context.Context, e Engine, rd revertData) error {
		c, err := e.Inspect(ctx, rd.ContainerID)
		if err != nil {
			return err
		}
		if !c.Paused {
			return nil
		}
		if err := e.Unpause(ctx, rd.ContainerID); err != nil {
			return fmt.Errorf("unpause: %w", err)
		}
		return nil
	},
	status: func(_ context.Context, _ Engine, c Container, _ revertData) (plugins.Status, error) {
		if c.Paused {
			return plugins.Status{Active: true, Detail: fmt.Sprintf("container %s is paused", c.Name)}, nil
		}
		return plugins.Status{Detail: fmt.Sprintf("container %s is not paused: %s", c.Name, stateOf(c))}, nil
	},
}
