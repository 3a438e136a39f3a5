package steps

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// fakeEnv says the service is back from up on.
type fakeEnv struct{ up time.Time }

func (e fakeEnv) SLOHeld(name string) (bool, string) {
	return !time.Now().Before(e.up), "SLO " + name
}

func (e fakeEnv) ProbeOK(probe string, _ time.Time) (bool, string) {
	return !time.Now().Before(e.up), "probe " + probe
}

// TestWaitRun: a wait returns once the service is back, or fails at its
// timeout saying what it last saw.
func TestWaitRun(t *testing.T) {
	for _, st := range []Step{{Kind: KindWait, SLO: "up"}, {Kind: KindWait, Probe: "web"}} {
		synctest.Test(t, func(t *testing.T) {
			env := fakeEnv{up: time.Now().Add(time.Second)}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			if _, err := (waitStep{}).Run(ctx, st, env); err == nil || !strings.HasPrefix(err.Error(), "still waiting: ") {
				t.Errorf("wait before the service is back: %v", err)
			}
			start := time.Now()
			out, err := waitStep{}.Run(context.Background(), st, env)
			if err != nil || !strings.HasPrefix(out.Detail, "after ") {
				t.Fatalf("wait = %+v, %v", out, err)
			}
			if took := time.Since(start); took < 500*time.Millisecond || took > 500*time.Millisecond+pollEvery {
				t.Errorf("returned after %v, want within a poll of the service being back", took)
			}
		})
	}
}
