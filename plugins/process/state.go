package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/shirou/gopsutil/v3/process"
)

// observed is what /proc says, now, about the process a revert data names.
type observed struct {
	pid    int32
	gone   bool // no such process
	reused bool // the pid belongs to a process started after ours: ours is gone
	state  byte // /proc/PID/stat's state: R, S, D, T (stopped), t (traced), Z (zombie), ...
}

func (o observed) stopped() bool { return !o.gone && (o.state == 'T' || o.state == 't') }

func (o observed) String() string {
	switch {
	case o.reused:
		return fmt.Sprintf("process %d is gone (its pid now belongs to another process)", o.pid)
	case o.gone:
		return fmt.Sprintf("process %d is gone", o.pid)
	}
	return fmt.Sprintf("process %d in state %c", o.pid, o.state)
}

// observe reads the state of the process rd names. A pid now used by a
// process created at another time is the process gone.
func observe(ctx context.Context, rd revertData) (observed, error) {
	o := observed{pid: rd.PID}
	st, err := procState(rd.PID)
	if errors.Is(err, fs.ErrNotExist) {
		o.gone = true
		return o, nil
	}
	if err != nil {
		return o, err
	}
	o.state = st
	if st == 'X' { // dead, being torn down
		o.gone = true
		return o, nil
	}
	if rd.CreateTime != 0 {
		p, err := process.NewProcessWithContext(ctx, rd.PID)
		if errors.Is(err, process.ErrorProcessNotRunning) {
			o.gone = true
			return o, nil
		}
		if err != nil {
			return o, err
		}
		ct, err := p.CreateTimeWithContext(ctx)
		if err != nil {
			if _, serr := procState(rd.PID); errors.Is(serr, fs.ErrNotExist) {
				o.gone = true
				return o, nil
			}
			return o, fmt.Errorf("start time of %d: %w", rd.PID, err)
		}
		if ct != rd.CreateTime {
			o.gone, o.reused = true, true
		}
	}
	return o, nil
}

// procState is the state letter in /proc/PID/stat ("1 (init) S 0 ...");
// the name in parentheses may itself hold spaces and parentheses.
func procState(pid int32) (byte, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, fmt.Errorf("/proc/%d/stat: no state in %q", pid, b)
	}
	return b[i+2], nil
}

// waitState polls the process until done says its state is reached, for
// at most bound (or until ctx ends); it returns the last state seen.
func waitState(ctx context.Context, rd revertData, bound time.Duration, done func(observed) bool) (observed, error) {
	timeout := time.NewTimer(bound)
	defer timeout.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		o, err := observe(ctx, rd)
		if err != nil || done(o) {
			return o, err
		}
		select {
		case <-ctx.Done():
			return o, nil
		case <-timeout.C:
			return o, nil
		case <-tick.C:
		}
	}
}
