package docker

import (
	"context"
	"fmt"

	"github.com/chaosctl/chaosctl/plugins"
)

// restart restarts the container through the Engine (docker restart).
var restartAction = &action{
	Action: plugins.Action{
		Name:   "restart",
		Doc:    "restart the container (docker restart); nothing to revert",
		Params: []plugins.Param{{Name: "timeout", Type: plugins.TypeDuration, Default: "10s", Doc: "grace period before SIGKILL"}},
	},
	onlyRunning: true,
	validate: func(params plugins.Params) []error {
		if _, err := durationParam(params, "timeout", 0); err != nil {
			return []error{err}
		}
		return nil
	},
	inject: func(ctx context.Context, e Engine, c Container, params plugins.Params, rd *revertData) error {
		timeout, err := durationParam(params, "timeout", defaultStopTimeout)
		if err != nil {
			return err
		}
		// The die event comes within the stop timeout (then SIGKILL), and
		// the Engine's answer only once the container started again.
		w := watchDie(ctx, e, c)
		if err := e.Restart(ctx, c.ID, timeout); err != nil {
			w.stop()
			return fmt.Errorf("restart %s: %w", c.Name, err)
		}
		w.wait(ctx, timeout+dieBound, rd)
		return nil
	},
	status: dieStatus,
}
