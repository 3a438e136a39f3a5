package daemon

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/plugins"
)

// targetLocks makes sure two runs never inject into the same target at
// once. A run takes all its targets or none, so two runs cannot each hold
// half of what the other needs.
type targetLocks struct {
	mu   sync.Mutex
	held map[string]string // target -> run id
}

func newTargetLocks() *targetLocks { return &targetLocks{held: map[string]string{}} }

// forRun returns the experiments.Options.LockTargets hook of one run.
func (l *targetLocks) forRun(runID string) func(context.Context, []plugins.Target) (func(), error) {
	return func(_ context.Context, targets []plugins.Target) (func(), error) {
		return l.acquire(runID, targets)
	}
}

// lockKey identifies a target whatever its display name.
func lockKey(t plugins.Target) string { return t.Kind + ":" + t.ID }

// quarantined prefixes the owner of a target whose fault could not be
// reverted: no run may inject there until a revert succeeds.
const quarantined = "quarantine:"

// quarantine keeps target locked after runID ended with its revert failed.
func (l *targetLocks) quarantine(runID string, t plugins.Target) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held[lockKey(t)] = quarantined + runID
}

// unquarantine frees target once the revert that failed there succeeded.
func (l *targetLocks) unquarantine(runID string, t plugins.Target) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[lockKey(t)] == quarantined+runID {
		delete(l.held, lockKey(t))
	}
}

func (l *targetLocks) acquire(runID string, targets []plugins.Target) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]string, 0, len(targets))
	for _, t := range targets {
		k := lockKey(t)
		if owner, ok := l.held[k]; ok && owner != runID {
			if q, ok := strings.CutPrefix(owner, quarantined); ok {
				return nil, fmt.Errorf("%w: %s is quarantined: run %s could not revert its fault there (see chaosctl faults: the daemon retries the revert)", api.ErrTargetBusy, t, q)
			}
			return nil, fmt.Errorf("%w: %s (run %s)", api.ErrTargetBusy, t, owner)
		}
		keys = append(keys, k)
	}
	for _, k := range keys {
		l.held[k] = runID
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			for _, k := range keys {
				if l.held[k] == runID {
					delete(l.held, k)
				}
			}
		})
	}, nil
}
