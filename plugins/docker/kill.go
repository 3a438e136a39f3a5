package docker

import (
	"context"
	"fmt"

	"github.com/chaosctl/chaosctl/plugins"
)

// kill asks the Engine to kill the container. The Engine treats that as a
// deliberate act: it does NOT apply the restart policy (neither "always" nor
// "on-failure"), unlike a crash. Use crash to test restart policies.
// Inject waits (up to dieBound) for the container's die event: a signal
// the container handles or ignores kills nothing, and Status says so.
var killAction = &action{
	Action: plugins.Action{
		Name: "kill",
		Doc: "kill the container through the Engine API (docker kill); the Engine does NOT apply the " +
			"restart policy afterwards; nothing to revert",
		Params: []plugins.Param{signalSchema},
	},
	onlyRunning: true,
	validate:    validateSignal,
	inject: func(ctx context.Context, e Engine, c Container, params plugins.Params, rd *revertData) error {
		sig, err := signalParam(params)
		if err != nil {
			return err
		}
		rd.Signal = sig
		w := watchDie(ctx, e, c)
		if err := e.Kill(ctx, c.ID, sig); err != nil {
			w.stop()
			return fmt.Errorf("kill %s with %s: %w", c.Name, sig, err)
		}
		w.wait(ctx, dieBound, rd)
		return nil
	},
	status: dieStatus,
}
