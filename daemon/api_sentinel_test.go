package daemon

import (
	"errors"
	"testing"
)

// TestAPIErrorIsSentinel: what the daemon answers is matched with
// errors.Is against the daemon's sentinels on the client side.
func TestAPIErrorIsSentinel(t *testing.T) {
	for code, sentinel := range wireCodes {
		e := &APIError{Status: statusOf(sentinel), ErrorResponse: ErrorResponse{Error: sentinel.Error(), Code: code}}
		if !errors.Is(e, sentinel) {
			t.Errorf("code %q: errors.Is(%v) false", code, sentinel)
		}
		if errors.Is(e, ErrConfig) {
			t.Errorf("code %q matches an unrelated sentinel", code)
		}
	}
}
