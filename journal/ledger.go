package journal

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// LedgerSuffix names a local run's write-ahead fault ledger:
// JOURNAL_DIR/RUN_ID.ledger.
const LedgerSuffix = ".ledger"

// Ledger states, in the order a fault goes through them.
const (
	StateIntent       = "intent"
	StateInjected     = "injected"
	StateReverted     = "reverted"
	StateRevertFailed = "revert-failed"
)

// ErrLedgerBusy: the ledger belongs to a run that is still going.
var ErrLedgerBusy = errors.New("ledger is held by a live run")

// LedgerRecord is one line of a ledger file.
type LedgerRecord struct {
	RunID    string `json:"run_id"`
	Scenario string `json:"scenario,omitempty"`
	State    string `json:"state"`
	Fault    Fault  `json:"fault"`
}

// FileLedger is the write-ahead fault ledger of a run without a daemon: an
// append-only file of JSON lines, each fsync'd before the call returns, so
// that an intent is on disk before its fault is injected. The run holds an
// exclusive lock on it while it lives; a later `chaosctl run` or `chaosctl
// recover` reverts what a dead run left (see PendingLedgers).
type FileLedger struct {
	mu       sync.Mutex
	f        *os.File
	path     string
	scenario string
	open     map[string]bool // fault id -> not yet closed
}

// CreateLedger creates and locks dir/runID.ledger.
func CreateLedger(dir, runID, scenario string) (*FileLedger, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ledger dir: %w", err)
	}
	path := filepath.Join(dir, runID+LedgerSuffix)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create ledger: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock ledger %s: %w", path, err)
	}
	return &FileLedger{f: f, path: path, scenario: scenario, open: map[string]bool{}}, nil
}

func (l *FileLedger) put(runID, state string, f Fault) error {
	b, err := json.Marshal(LedgerRecord{RunID: runID, Scenario: l.scenario, State: state, Fault: f})
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("ledger %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("ledger %s: %w", l.path, err)
	}
	switch state {
	case StateReverted:
		delete(l.open, f.ID)
	default:
		l.open[f.ID] = true
	}
	return nil
}

// Intent records f before it is injected.
func (l *FileLedger) Intent(_ context.Context, runID string, f Fault) error {
	return l.put(runID, StateIntent, f)
}

// Injected records f with its revert data.
func (l *FileLedger) Injected(_ context.Context, runID string, f Fault) error {
	return l.put(runID, StateInjected, f)
}

// Reverted records that f was reverted, or that its revert failed.
func (l *FileLedger) Reverted(_ context.Context, runID string, f Fault) error {
	if f.RevertError != "" {
		return l.put(runID, StateRevertFailed, f)
	}
	return l.put(runID, StateReverted, f)
}

// Close unlocks the ledger and removes it when every fault was reverted;
// otherwise it stays for the next run or `chaosctl recover` to finish.
func (l *FileLedger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	pending := len(l.open)
	err := l.f.Close()
	if pending == 0 {
		if rerr := os.Remove(l.path); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

// PendingLedger is a dead run's ledger with the faults it left unreverted.
type PendingLedger struct {
	Path     string
	RunID    string
	Scenario string
	Faults   []Fault // latest record of each fault not marked reverted
	lock     *os.File
}

// Release unlocks the ledger; with done, it also removes it.
func (p *PendingLedger) Release(done bool) error {
	var err error
	if done {
		err = os.Remove(p.Path)
	}
	if cerr := p.lock.Close(); err == nil {
		err = cerr
	}
	return err
}

// PendingLedgers finds the ledgers in dir whose run is gone (no lock held)
// and locks each for the caller, who reverts its faults and releases it.
// Ledgers of live runs are skipped.
func PendingLedgers(dir string) ([]*PendingLedger, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*"+LedgerSuffix))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var out []*PendingLedger
	var errs []error
	for _, path := range paths {
		p, err := readPending(path)
		switch {
		case errors.Is(err, ErrLedgerBusy):
			continue
		case err != nil:
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

func readPending(path string) (*PendingLedger, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrLedgerBusy
		}
		return nil, fmt.Errorf("lock ledger %s: %w", path, err)
	}
	p := &PendingLedger{Path: path, RunID: strings.TrimSuffix(filepath.Base(path), LedgerSuffix), lock: f}
	latest := map[string]LedgerRecord{}
	var order []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var r LedgerRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue // a line cut short by the crash: the one before it stands
		}
		if _, seen := latest[r.Fault.ID]; !seen {
			order = append(order, r.Fault.ID)
		}
		latest[r.Fault.ID] = r
		p.Scenario = r.Scenario
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, fmt.Errorf("read ledger %s: %w", path, err)
	}
	for _, id := range order {
		if r := latest[id]; r.State != StateReverted {
			p.Faults = append(p.Faults, r.Fault)
		}
	}
	return p, nil
}
