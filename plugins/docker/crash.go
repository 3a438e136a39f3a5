package docker

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/plugins"
)

// crash signals the container's init process from the host, through the pid
// the Engine reports. To the Engine this is the process dying on its own, so
// the container's restart policy applies, as it would for a real crash.

var crashAction = &action{
	Action: plugins.Action{
		Name: "crash",
		Doc: "signal the container's init process from the host (SIGKILL by default): a real crash, " +
			"so the restart policy applies; nothing to revert",
		Params: []plugins.Param{signalSchema},
	},
	onlyRunning: true,
	validate:    validateSignal,
	inject: func(ctx context.Context, e Engine, c Container, params plugins.Params, rd *revertData) error {
		sig, err := signalParam(params)
		if err != nil {
			return err
		}
		if c.Pid <= 1 {
			return fmt.Errorf("container %s reports no init pid (state %s)", c.Name, c.State)
		}
		// The pid was read by Inspect just now; check it is still the same
		// container's init (the container could have restarted since).
		again, err := e.Inspect(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("inspect %s: %w", c.Name, err)
		}
		if again.Pid != c.Pid {
			return fmt.Errorf("container %s restarted while being selected (pid %d -> %d)", c.Name, c.Pid, again.Pid)
		}
		if err := dockerengine.OwnPid(c); err != nil {
			return err
		}
		rd.Pid, rd.Signal = c.Pid, sig
		w := watchDie(ctx, e, c)
		if err := syscall.Kill(c.Pid, unix.SignalNum(sig)); err != nil {
			w.stop()
			if errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("container %s: init pid %d already gone", c.Name, c.Pid)
			}
			return fmt.Errorf("send %s to pid %d of %s: %w", sig, c.Pid, c.Name, err)
		}
		w.wait(ctx, dieBound, rd)
		return nil
	},
	status: dieStatus,
}
