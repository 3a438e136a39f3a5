package api

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// TestAPIErrorIsSentinel: what the daemon answers is matched with
// errors.Is against the daemon's sentinels on the client side.
func TestAPIErrorIsSentinel(t *testing.T) {
	for code, sentinel := range codes {
		if got := Code(fmt.Errorf("start: %w", sentinel)); got != code {
			t.Errorf("Code(%v) = %q, want %q", sentinel, got, code)
		}
		e := &APIError{Status: http.StatusConflict, ErrorResponse: ErrorResponse{Error: sentinel.Error(), Code: code}}
		if !errors.Is(e, sentinel) {
			t.Errorf("code %q: errors.Is(%v) false", code, sentinel)
		}
		if errors.Is(e, ErrUnreachable) {
			t.Errorf("code %q matches an unrelated sentinel", code)
		}
	}
}
