package docker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
)

// dieBound is how long crash and kill wait for the container's die event
// (restart waits its stop timeout more).
const dieBound = 10 * time.Second

// dieWatch is a subscription to one container's events, opened before the
// container is signalled so that its die event cannot be missed.
type dieWatch struct {
	start  time.Time // when the subscription was opened: wait's bounds count from it
	evs    <-chan Event
	errs   <-chan error
	cancel context.CancelFunc
}

// watchDie subscribes to c's events. The Engine replays what happened
// since c started (by its own clock, so no clock skew matters): a die
// event between the subscription and the Engine's first answer is not
// lost. c is running, so any die event since it started is the one the
// action caused.
func watchDie(ctx context.Context, e Engine, c Container) *dieWatch {
	ctx, cancel := context.WithCancel(ctx)
	since := c.StartedAt
	if since.IsZero() {
		since = time.Now().Add(-time.Second)
	}
	evs, errs := e.EventsSince(ctx, since, c.ID)
	return &dieWatch{start: time.Now(), evs: evs, errs: errs, cancel: cancel}
}

// wait blocks until the die event, the end of ctx or bound after the
// subscription opened, and records in rd what it saw: the event's time and exit code, or why there was none.
// Not seeing the event is no error: Status then says the effect is not
// confirmed.
func (w *dieWatch) wait(ctx context.Context, bound time.Duration, rd *revertData) {
	defer w.cancel()
	timeout := time.NewTimer(time.Until(w.start.Add(bound)))
	defer timeout.Stop()
	for {
		select {
		case ev, ok := <-w.evs:
			if !ok {
				rd.NoDie = "the Engine's event stream ended before a die event"
				return
			}
			if ev.Action != "die" || (ev.ID != "" && ev.ID != rd.ContainerID) {
				continue
			}
			rd.DiedAt, rd.NoDie = ev.Time, ""
			if code, err := strconv.Atoi(ev.Attrs["exitCode"]); err == nil {
				rd.ExitCode = &code
			}
			return
		case err := <-w.errs:
			rd.NoDie = fmt.Sprintf("the Engine's event stream broke before a die event: %v", err)
			return
		case <-timeout.C:
			rd.NoDie = fmt.Sprintf("no die event seen within %s", bound)
			return
		case <-ctx.Done():
			rd.NoDie = fmt.Sprintf("stopped waiting for the die event: %v", ctx.Err())
			return
		}
	}
}

// stop ends a watch that will not be waited on (signalling failed).
func (w *dieWatch) stop() { w.cancel() }

// dieStatus is the Status of crash, kill and restart: Active when their
// die event was seen, with the container's state now.
func dieStatus(_ context.Context, _ Engine, c Container, rd revertData) (plugins.Status, error) {
	now := fmt.Sprintf("container %s now %s", c.Name, stateOf(c))
	if rd.DiedAt.IsZero() {
		why := rd.NoDie
		if why == "" {
			why = "no die event recorded"
		}
		return plugins.Status{Detail: why + "; " + now}, nil
	}
	code := "exit code unknown"
	if rd.ExitCode != nil {
		code = fmt.Sprintf("exit code %d", *rd.ExitCode)
	}
	return plugins.Status{Active: true, Detail: fmt.Sprintf("die event at %s (%s); %s", rd.DiedAt.Local().Format(clock), code, now)}, nil
}
