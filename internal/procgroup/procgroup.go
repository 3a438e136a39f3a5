// Package procgroup runs commands in their own process group, so that a
// timeout or cancellation kills the command and every child it started,
// and captures their output up to a bound.
package procgroup

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Isolate makes cmd (built with exec.CommandContext) start its own
// process group and kill the whole group when its context ends; Wait gives
// up on pipes still held open by leftover children after waitDelay.
func Isolate(cmd *exec.Cmd, waitDelay time.Duration) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return Kill(cmd) }
	cmd.WaitDelay = waitDelay
}

// Kill sends SIGKILL to the command's process group.
func Kill(cmd *exec.Cmd) error {
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// Capped is an io.Writer that keeps the first Max bytes (for matching) and
// the last tailSize bytes (for a failure's reason, which a long output
// puts at its end), and discards the rest without failing, so the command
// is not hit by EPIPE.
type Capped struct {
	Max  int
	mu   sync.Mutex
	buf  []byte
	last []byte
}

const tailSize = 4096

func (c *Capped) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.Max - len(c.buf); room > 0 {
		c.buf = append(c.buf, b[:min(room, len(b))]...)
	}
	c.last = append(c.last, b[max(0, len(b)-tailSize):]...)
	if over := len(c.last) - tailSize; over > 0 {
		c.last = append(c.last[:0], c.last[over:]...)
	}
	return len(b), nil
}

// Last is the end of everything written (up to 4 KiB).
func (c *Capped) Last() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.last)
}

// Bytes is what was kept.
func (c *Capped) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf...)
}

func (c *Capped) String() string { return string(c.Bytes()) }

// Tail is ": <last line of output>", or "" when there is none: a failure's
// reason in the command's own words.
func (c *Capped) Tail() string {
	s := strings.TrimSpace(c.Last())
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return ""
	}
	return ": " + s
}
