package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
)

// stop stops the container (SIGTERM, then SIGKILL after timeout); with
// start_after, the revert (after the fault's duration) starts it again.
var stopAction = &action{
	Action: plugins.Action{
		Name:       "stop",
		Doc:        "stop the container (docker stop); start it again on revert when start_after is true",
		Reversible: true,
		Params: []plugins.Param{
			{Name: "timeout", Type: plugins.TypeDuration, Default: "10s", Doc: "grace period before SIGKILL"},
			{Name: "start_after", Type: plugins.TypeBool, Default: true, Doc: "start the container again when the fault is reverted"},
		},
	},
	onlyRunning: true,
	validate: func(params plugins.Params) []error {
		if _, err := durationParam(params, "timeout", 0); err != nil {
			return []error{err}
		}
		return nil
	},
	prepare: prepareStop,
	inject: func(ctx context.Context, e Engine, c Container, params plugins.Params, rd *revertData) error {
		timeout, err := durationParam(params, "timeout", defaultStopTimeout)
		if err != nil {
			return err
		}
		_ = prepareStop(c, params, rd)
		if err := e.Stop(ctx, c.ID, timeout); err != nil {
			return fmt.Errorf("stop %s: %w", c.Name, err)
		}
		return nil
	},
	revert: func(ctx context.Context, e Engine, rd revertData) error {
		if !rd.StartAfter {
			return nil
		}
		c, err := e.Inspect(ctx, rd.ContainerID)
		if err != nil {
			return err
		}
		if c.Running {
			return nil
		}
		if err := e.Start(ctx, rd.ContainerID); err != nil {
			return fmt.Errorf("start: %w", err)
		}
		return nil
	},
	status: func(_ context.Context, _ Engine, c Container, rd revertData) (plugins.Status, error) {
		if c.Running {
			return plugins.Status{Detail: fmt.Sprintf("container %s is %s", c.Name, stateOf(c))}, nil
		}
		detail := fmt.Sprintf("container %s is %s", c.Name, stateOf(c))
		if !rd.StartAfter {
			detail += "; start_after = false: revert leaves it stopped"
		}
		// Without start_after the stop is meant to outlive the revert.
		return plugins.Status{Active: true, Detail: detail, Lasting: !rd.StartAfter}, nil
	},
}

// prepareStop records whether revert starts the container again.
func prepareStop(_ Container, params plugins.Params, rd *revertData) error {
	rd.StartAfter = true
	if v, ok := params["start_after"].(bool); ok {
		rd.StartAfter = v
	}
	return nil
}

const defaultStopTimeout = 10 * time.Second
