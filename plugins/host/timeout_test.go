package host

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
)

// TestOwnTimeout: a deadline error is quick's own timeout even when the
// plugin's answer beats cctx's timer (the race that made
// TestHungPluginIsKilled flaky), and never when the caller's context is
// the one that ran out or was cancelled.
func TestOwnTimeout(t *testing.T) {
	deadline := fmt.Errorf("%w: %w", plugins.ErrCanceled, context.DeadlineExceeded)
	cancelled := fmt.Errorf("%w: %w", plugins.ErrCanceled, context.Canceled)
	other := errors.New("no such container")

	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	near, cancelNear := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancelNear()
	far, cancelFar := context.WithTimeout(context.Background(), time.Hour)
	defer cancelFar()

	for _, tc := range []struct {
		name  string
		outer context.Context
		err   error
		want  bool
	}{
		{"plugin answered DeadlineExceeded before our timer", context.Background(), deadline, true},
		{"caller's deadline is later than ours", far, deadline, true},
		{"caller's deadline bound", near, deadline, false},
		{"caller cancelled", done, cancelled, false},
		{"plugin cancelled on its own", context.Background(), cancelled, false},
		{"an ordinary error", context.Background(), other, false},
		{"no error", context.Background(), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cctx, cancel := context.WithTimeout(tc.outer, time.Minute)
			defer cancel()
			if got := ownTimeout(tc.outer, cctx, tc.err); got != tc.want {
				t.Fatalf("ownTimeout = %v, want %v", got, tc.want)
			}
		})
	}
}
