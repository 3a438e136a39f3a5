package docker

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// fakeEngine is an in-memory Engine for unit tests of selection and revert
// logic. It is not proof that anything works against Docker: test/ does that.
type fakeEngine struct {
	mu         sync.Mutex
	containers map[string]*Container
	calls      []string
	connectErr func(ep Endpoint) error
}

func newFake(cs ...Container) *fakeEngine {
	f := &fakeEngine{containers: map[string]*Container{}}
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

func (f *fakeEngine) Kill(_ context.Context, id, sig string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("kill %s %s", id, sig)
	c, err := f.get(id)
	if err == nil {
		c.Running, c.State = false, "exited"
	}
	return err
}

func (f *fakeEngine) Stop(_ context.Context, id string, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("stop %s", id)
	c, err := f.get(id)
	if err == nil {
		c.Running, c.State = false, "exited"
	}
	return err
}

func (f *fakeEngine) Start(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("start %s", id)
	c, err := f.get(id)
	if err == nil {
		c.Running, c.State = true, "running"
	}
	return err
}

func (f *fakeEngine) Restart(_ context.Context, id string, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("restart %s", id)
	_, err := f.get(id)
	return err
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

func (f *fakeEngine) Events(ctx context.Context, _ ...string) (<-chan Event, <-chan error) {
	errc := make(chan error, 1)
	go func() { <-ctx.Done(); errc <- ctx.Err() }()
	return make(chan Event), errc
}

func (f *fakeEngine) Close() error { return nil }

func (f *fakeEngine) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, id)
}
