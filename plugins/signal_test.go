package plugins

import (
	"errors"
	"syscall"
	"testing"
)

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		name string
		num  syscall.Signal
		bad  bool
	}{
		{"", "SIGKILL", syscall.SIGKILL, false},
		{"kill", "SIGKILL", syscall.SIGKILL, false},
		{"sigterm", "SIGTERM", syscall.SIGTERM, false},
		{"SIGSEGV", "SIGSEGV", syscall.SIGSEGV, false},
		{"STOP", "", 0, true}, // pause is an action of its own, with a revert
		{"SIGWHAT", "", 0, true},
	}
	for _, tt := range tests {
		name, num, err := ParseSignal(tt.in)
		var ve *ValidationError
		switch {
		case tt.bad && (!errors.As(err, &ve) || ve.Field != "params.signal"):
			t.Errorf("ParseSignal(%q) = %v, want a validation error on params.signal", tt.in, err)
		case !tt.bad && (err != nil || name != tt.name || num != tt.num):
			t.Errorf("ParseSignal(%q) = %s %d %v, want %s %d", tt.in, name, num, err, tt.name, tt.num)
		}
	}
}
