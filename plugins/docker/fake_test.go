package docker

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// fakeEngine is an in-memory Engine for unit tests of selection and revert
// logic. It is not proof that anything works against Docker: test/ does that.
type fakeEngine struct {
	mu         sync.Mutex
	containers map[string]*Container
	calls      []string
	connectErr func(ep Endpoint) error
	// ignore: signals the containers' processes handle or ignore (a kill
	// with one changes nothing); "restart": a restart whose die event the
	// Engine never sends.
	ignore    map[string]bool
	eventsErr error // the event stream breaks at once with this error
	log       []Event
	subs      map[chan Event][]string // subscribers and their containers
}

func newFake(cs ...Container) *fakeEngine {
	f := &fakeEngine{containers: map[string]*Container{}, ignore: map[string]bool{}, subs: map[chan Event][]string{}}
	for _, c := range cs {
		c := c
		f.containers[c.ID] = &c
	}
	return f
}

func (f *fakeEngine) get(id string) (*Container, error) {
	c, ok := f.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	return c, nil
}

func (f *fakeEngine) record(s string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(s, args...))
}

func (f *fakeEngine) List(context.Context) ([]Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Container
	for _, c := range f.containers {
		if c.Running || c.Paused {
			out = append(out, *c)
		}
	}
	return out, nil
}

func (f *fakeEngine) Inspect(_ context.Context, id string) (Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(id)
	if err != nil {
		return Container{}, err
	}
	return *c, nil
}

// emit logs an event of c and sends it to its subscribers; f.mu is held.
func (f *fakeEngine) emit(c *Container, action string, attrs map[string]string) {
	ev := Event{Time: time.Now(), ID: c.ID, Name: c.Name, Action: action, Attrs: attrs}
	f.log = append(f.log, ev)
	for ch, ids := range f.subs {
		if len(ids) == 0 || slices.Contains(ids, c.ID) {
			select {
			case ch <- ev:
			default: // a subscriber that does not read loses events, as with the Engine
			}
		}
	}
}

// exit ends c's run as a signal would; f.mu is held.
func (f *fakeEngine) exit(c *Container, code int) {
	c.Running, c.Paused, c.State, c.ExitCode, c.Pid = false, false, "exited", code, 0
	f.emit(c, "die", map[string]string{"exitCode": strconv.Itoa(code)})
}

func (f *fakeEngine) Kill(_ context.Context, id, sig string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("kill %s %s", id, sig)
	c, err := f.get(id)
	if err != nil {
		return err
	}
	n := int(unix.SignalNum(sig))
	f.emit(c, "kill", map[string]string{"signal": strconv.Itoa(n)})
	if !f.ignore[sig] {
		f.exit(c, 128+n)
	}
	return nil
}

func (f *fakeEngine) Stop(_ context.Context, id string, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("stop %s", id)
	c, err := f.get(id)
	if err == nil {
		f.exit(c, 143)
	}
	return err
}

func (f *fakeEngine) Start(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("start %s", id)
	c, err := f.get(id)
	if err == nil {
		f.start(c)
	}
	return err
}

// start begins a new run of c; f.mu is held.
func (f *fakeEngine) start(c *Container) {
	c.Running, c.State, c.StartedAt = true, "running", time.Now()
	f.emit(c, "start", nil)
}

func (f *fakeEngine) Restart(_ context.Context, id string, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("restart %s", id)
	c, err := f.get(id)
	if err != nil {
		return err
	}
	if !f.ignore["restart"] {
		f.exit(c, 143)
	}
	f.start(c)
	return nil
}

func (f *fakeEngine) Pause(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("pause %s", id)
	c, err := f.get(id)
	if err == nil {
		c.Paused, c.State = true, "paused"
	}
	return err
}

func (f *fakeEngine) Unpause(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("unpause %s", id)
	c, err := f.get(id)
	if err == nil {
		c.Paused, c.State = false, "running"
	}
	return err
}

func (f *fakeEngine) Disconnect(_ context.Context, netID, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("disconnect %s %s", netID, id)
	c, err := f.get(id)
	if err != nil {
		return err
	}
	for n, ep := range c.Networks {
		if ep.NetworkID == netID {
			delete(c.Networks, n)
			return nil
		}
	}
	return fmt.Errorf("not connected")
}

func (f *fakeEngine) Connect(_ context.Context, netID, id string, ep Endpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("connect %s %s ip=%s aliases=%v", netID, id, ep.IPv4, ep.Aliases)
	c, err := f.get(id)
	if err != nil {
		return err
	}
	if f.connectErr != nil {
		if err := f.connectErr(ep); err != nil {
			return err
		}
	}
	if c.Networks == nil {
		c.Networks = map[string]Endpoint{}
	}
	c.Networks[ep.NetworkName] = ep
	return nil
}

func (f *fakeEngine) Events(ctx context.Context, ids ...string) (<-chan Event, <-chan error) {
	return f.EventsSince(ctx, time.Time{}, ids...)
}

// EventsSince replays the logged events from since, then streams new ones.
func (f *fakeEngine) EventsSince(ctx context.Context, since time.Time, ids ...string) (<-chan Event, <-chan error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("events %v", ids)
	errc := make(chan error, 1)
	ch := make(chan Event, 64)
	if f.eventsErr != nil {
		errc <- f.eventsErr
		return ch, errc
	}
	for _, ev := range f.log {
		if !since.IsZero() && !ev.Time.Before(since) && (len(ids) == 0 || slices.Contains(ids, ev.ID)) {
			ch <- ev
		}
	}
	f.subs[ch] = ids
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
		errc <- ctx.Err()
	}()
	return ch, errc
}

func (f *fakeEngine) Close() error { return nil }

func (f *fakeEngine) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, id)
}
