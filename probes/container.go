package probes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
)

func init() {
	register(Kind{
		Name: "container",
		Doc: "Docker container state: ok while it runs (and is healthy, and has not restarted too often); " +
			"an Engine event watcher catches deaths between samples.",
		NewSpec: func() Spec { return &ContainerSpec{} },
	})
}

// Health expectations of the container probe.
const (
	healthAny          = "any"
	healthHealthy      = "healthy"
	healthNotUnhealthy = "not_unhealthy"
)

// ContainerSpec is the "container" probe.
type ContainerSpec struct {
	Container     string `toml:"container"`      // required: name or id
	ExpectRunning *bool  `toml:"expect_running"` // default true
	ExpectHealth  string `toml:"expect_health"`  // any (default), healthy, not_unhealthy
	MaxRestarts   *int   `toml:"max_restarts"`   // restarts allowed since the first sample; default: no limit
	Events        *bool  `toml:"events"`         // watch the event stream between samples; default true
}

// Validate reports every problem with the spec.
func (s *ContainerSpec) Validate() []FieldError {
	var errs []FieldError
	if s.Container == "" {
		errs = append(errs, FieldError{Field: "container", Msg: "required"})
	}
	switch s.ExpectHealth {
	case "", healthAny, healthHealthy, healthNotUnhealthy:
	default:
		errs = append(errs, FieldError{Field: "expect_health", Msg: fmt.Sprintf("want any, healthy or not_unhealthy, got %q", s.ExpectHealth)})
	}
	if s.MaxRestarts != nil && *s.MaxRestarts < 0 {
		errs = append(errs, FieldError{Field: "max_restarts", Msg: "must be >= 0"})
	}
	return errs
}

// Build returns the prober.
func (s *ContainerSpec) Build(name string) (Prober, error) {
	if err := validated(name, s.Validate()); err != nil {
		return nil, err
	}
	p := &containerProber{name: name, spec: *s, engine: dockerengine.Lazy{Connect: dockerengine.Connect}, restartBase: -1}
	return p, nil
}

// containerProber inspects the container at each sample; an event watcher
// (when enabled) records deaths and starts between samples, re-subscribing
// when the stream breaks.
type containerProber struct {
	name   string
	spec   ContainerSpec
	engine dockerengine.Lazy

	mu          sync.Mutex
	watch       *watcher
	restartBase int // restart count at the first sample; -1 before it
	lastStart   time.Time
	lastSample  time.Time
}

var _ Prober = (*containerProber)(nil)

func (p *containerProber) Probe(ctx context.Context) Sample {
	return measure(ctx, p.name, p.attempt)
}

func (p *containerProber) engineFor(ctx context.Context) (dockerengine.Engine, error) {
	e, err := p.engine.Get(ctx)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.watch == nil && (p.spec.Events == nil || *p.spec.Events) {
		p.watch = newWatcher(e, p.spec.Container)
	}
	return e, nil
}

func (p *containerProber) attempt(ctx context.Context) (float64, error) {
	e, err := p.engineFor(ctx)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	c, err := e.Inspect(ctx, p.spec.Container)
	if errors.Is(err, dockerengine.ErrNotFound) {
		return 0, fmt.Errorf("container %s not found", p.spec.Container)
	}
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	if p.restartBase < 0 {
		p.restartBase = c.RestartCount
	}
	base, prevStart, prevSample := p.restartBase, p.lastStart, p.lastSample
	p.lastStart, p.lastSample = c.StartedAt, now
	if p.watch != nil && p.watch.idle() {
		// Stopped after a long pause between samples: follow again. A
		// restart in the gap still shows through StartedAt below.
		p.watch = newWatcher(e, p.spec.Container)
	}
	w := p.watch
	p.mu.Unlock()
	if w != nil {
		w.touch()
	}
	v := float64(c.RestartCount)
	switch {
	case (p.spec.ExpectRunning == nil || *p.spec.ExpectRunning) && c.Paused:
		return v, fmt.Errorf("container %s is paused", c.Name)
	case (p.spec.ExpectRunning == nil || *p.spec.ExpectRunning) && !c.Running:
		return v, fmt.Errorf("container %s is %s", c.Name, c.State)
	case p.spec.ExpectRunning != nil && !*p.spec.ExpectRunning && c.Running:
		return v, fmt.Errorf("container %s is running", c.Name)
	}
	switch p.spec.ExpectHealth {
	case healthHealthy:
		if c.Health != "healthy" {
			return v, fmt.Errorf("container %s health is %q, want healthy", c.Name, orNone(c.Health))
		}
	case healthNotUnhealthy:
		if c.Health == "unhealthy" {
			return v, fmt.Errorf("container %s is unhealthy", c.Name)
		}
	}
	if p.spec.MaxRestarts != nil && c.RestartCount-base > *p.spec.MaxRestarts {
		return v, fmt.Errorf("container %s restarted %d times since the first sample (max %d)", c.Name, c.RestartCount-base, *p.spec.MaxRestarts)
	}
	// A death between two samples that both saw it running.
	if !prevSample.IsZero() {
		if w != nil {
			if die, start, ok := w.diedSince(prevSample); ok && !start.IsZero() {
				return v, fmt.Errorf("container %s died at %s and started again at %s (%s down, between samples)",
					c.Name, die.Format("15:04:05.000"), start.Format("15:04:05.000"), start.Sub(die).Round(time.Millisecond))
			}
		}
		if !prevStart.IsZero() && !c.StartedAt.Equal(prevStart) {
			return v, fmt.Errorf("container %s restarted between samples (started at %s)", c.Name, c.StartedAt.Format("15:04:05.000"))
		}
	}
	return v, nil
}

func orNone(s string) string {
	if s == "" {
		return "none (no healthcheck)"
	}
	return s
}

// Close stops the watcher and releases the Engine connection.
func (p *containerProber) Close() error {
	p.mu.Lock()
	if p.watch != nil {
		p.watch.stop()
		p.watch = nil
	}
	p.mu.Unlock()
	return p.engine.Close()
}

// watcher follows a container's events and remembers its deaths and
// starts. It re-subscribes when the stream breaks, and stops by itself when
// nobody has sampled for watchIdle (probers are not always closed).
type watcher struct {
	cancel context.CancelFunc
	mu     sync.Mutex
	deaths []time.Time // die events, oldest first (bounded)
	starts []time.Time
	health string
	used   time.Time
	gone   bool // run returned after watchIdle without samples
	// Resubscribed counts broken streams (tests and logs).
	resubscribed int
}

const (
	watchIdle    = time.Minute
	watchHistory = 64
)

func newWatcher(e dockerengine.Engine, container string) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{cancel: cancel, used: time.Now()}
	go w.run(ctx, e, container)
	return w
}

func (w *watcher) run(ctx context.Context, e dockerengine.Engine, container string) {
	backoff := 50 * time.Millisecond
	idle := time.NewTicker(watchIdle / 4)
	defer idle.Stop()
	for ctx.Err() == nil {
		sctx, scancel := context.WithCancel(ctx)
		evs, errs := e.Events(sctx, container)
		broken := false
		for !broken {
			select {
			case ev, ok := <-evs:
				if !ok {
					broken = true
					break
				}
				backoff = 50 * time.Millisecond
				w.record(ev)
			case <-errs:
				broken = true
			case <-idle.C:
				w.mu.Lock()
				stale := time.Since(w.used) > watchIdle
				w.mu.Unlock()
				if stale {
					scancel()
					w.mu.Lock()
					w.gone = true
					w.mu.Unlock()
					return
				}
			case <-ctx.Done():
				scancel()
				return
			}
		}
		scancel()
		w.mu.Lock()
		w.resubscribed++
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (w *watcher) record(ev dockerengine.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	add := func(s []time.Time, t time.Time) []time.Time {
		s = append(s, t)
		if len(s) > watchHistory {
			s = s[len(s)-watchHistory:]
		}
		return s
	}
	switch ev.Action {
	case "die":
		w.deaths = add(w.deaths, ev.Time)
	case "start":
		w.starts = add(w.starts, ev.Time)
	default:
		if h, ok := cutHealth(ev.Action); ok {
			w.health = h
		}
	}
}

func cutHealth(action string) (string, bool) {
	const p = "health_status: "
	if len(action) > len(p) && action[:len(p)] == p {
		return action[len(p):], true
	}
	return "", false
}

// diedSince reports a death after t and the start that followed it.
func (w *watcher) diedSince(t time.Time) (die, start time.Time, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range w.deaths {
		if d.After(t) {
			for _, s := range w.starts {
				if s.After(d) {
					return d, s, true
				}
			}
			return d, time.Time{}, true
		}
	}
	return time.Time{}, time.Time{}, false
}

func (w *watcher) touch() {
	w.mu.Lock()
	w.used = time.Now()
	w.mu.Unlock()
}

func (w *watcher) stop() { w.cancel() }

// idle reports whether the watcher stopped for lack of samples.
func (w *watcher) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gone
}
