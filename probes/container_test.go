package probes

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
)

// streams is a fake event source for the watcher's own logic (the real
// Engine is exercised in test/): each subscription gets the next script,
// whose events are sent and whose stream then breaks with an error.
type streams struct {
	dockerengine.Engine // only Events is called
	mu                  sync.Mutex
	scripts             [][]dockerengine.Event
	subs                int
}

func (s *streams) Events(ctx context.Context, _ ...string) (<-chan dockerengine.Event, <-chan error) {
	s.mu.Lock()
	var script []dockerengine.Event
	if s.subs < len(s.scripts) {
		script = s.scripts[s.subs]
	}
	s.subs++
	last := s.subs > len(s.scripts)
	s.mu.Unlock()
	evs, errs := make(chan dockerengine.Event), make(chan error, 1)
	go func() {
		for _, ev := range script {
			select {
			case evs <- ev:
			case <-ctx.Done():
				return
			}
		}
		if !last {
			errs <- errors.New("stream broken")
		}
	}()
	return evs, errs
}

// TestWatcherResubscribesWhenTheStreamBreaks: a death seen on one stream
// and the start seen after re-subscribing are both remembered.
func TestWatcherResubscribesWhenTheStreamBreaks(t *testing.T) {
	t0 := time.Now()
	src := &streams{scripts: [][]dockerengine.Event{
		{{Time: t0.Add(10 * time.Millisecond), Action: "die"}},
		{{Time: t0.Add(20 * time.Millisecond), Action: "health_status: unhealthy"}},
		{{Time: t0.Add(30 * time.Millisecond), Action: "start"}, {Time: t0.Add(40 * time.Millisecond), Action: "health_status: healthy"}},
	}}
	w := newWatcher(src, "api")
	defer w.stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		die, start, ok := w.diedSince(t0)
		w.mu.Lock()
		health, resub := w.health, w.resubscribed
		w.mu.Unlock()
		if ok && !start.IsZero() && health == "healthy" {
			if !die.Equal(t0.Add(10*time.Millisecond)) || !start.Equal(t0.Add(30*time.Millisecond)) {
				t.Fatalf("die %v start %v", die.Sub(t0), start.Sub(t0))
			}
			if resub < 2 {
				t.Fatalf("re-subscribed %d times, want at least 2", resub)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("watcher state after 5s: died=%v start=%v health=%q resubscribed=%d", ok, start, health, resub)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
