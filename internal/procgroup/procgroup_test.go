package procgroup

import (
	"strings"
	"testing"
)

func TestCappedKeepsHeadAndTail(t *testing.T) {
	c := &Capped{Max: 10}
	for i := range 3000 {
		_, _ = c.Write([]byte(strings.Repeat("x", i%7) + "\n"))
	}
	_, _ = c.Write([]byte("FATAL: restore failed\n"))
	if got := len(c.Bytes()); got != 10 {
		t.Errorf("head %d bytes, want 10", got)
	}
	if got := c.Tail(); got != ": FATAL: restore failed" {
		t.Errorf("Tail() = %q, want the last line", got)
	}
	if len(c.Last()) > tailSize {
		t.Errorf("Last() holds %d bytes, more than %d", len(c.Last()), tailSize)
	}
}
