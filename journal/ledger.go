package journal

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// StateRun is a ledger's first record: the run itself (its scenario and
// journal), with no fault, so that a run that dies before its first fault
// is still known for what it was.
const StateRun = "run"

// ErrLedgerBusy: the ledger belongs to a run that is still going.
var ErrLedgerBusy = errors.New("ledger is held by a live run")

// ErrCorruptLedger: a ledger file holds something that is not a record
// (other than a last line cut short by a crash). It is never deleted or
// rewritten: its faults may still be in effect.
var ErrCorruptLedger = errors.New("corrupt ledger")

// StateUnknown closes a fault whose state cannot be known (its intent was
// recorded, there is no revert data): never "reverted".
const StateUnknown = "unknown"

// LedgerRecord is one line of a ledger file.
type LedgerRecord struct {
	RunID    string `json:"run_id"`
	Scenario string `json:"scenario,omitempty"`
	Journal  string `json:"journal,omitempty"` // the run's journal, where the user asked for it
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
	journal  string
	ref      string          // this ledger's entry in the index of live ledgers, if any
	open     map[string]bool // fault id -> not yet closed
}

// LedgerOptions are where a ledger's run keeps its journal and where the
// index of live ledgers is.
type LedgerOptions struct {
	Journal string // the run's journal path, kept in every record
	// Index is a directory (in the state dir) holding one small file per
	// live ledger, naming it: `chaosctl recover` and the next run find a
	// ledger there wherever its journal went. "": no index.
	Index string
}

// CreateLedger creates and locks dir/runID.ledger.
func CreateLedger(dir, runID, scenario string, opts ...LedgerOptions) (*FileLedger, error) {
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
	l := &FileLedger{f: f, path: path, scenario: scenario, open: map[string]bool{}}
	for _, o := range opts {
		l.journal = o.Journal
		if o.Index != "" {
			ref, err := writeRef(o.Index, runID, path)
			if err != nil {
				f.Close()
				os.Remove(path)
				return nil, err
			}
			l.ref = ref
		}
	}
	if err := l.write(LedgerRecord{RunID: runID, Scenario: scenario, Journal: l.journal, State: StateRun}); err != nil {
		l.f.Close()
		os.Remove(path)
		if l.ref != "" {
			os.Remove(l.ref)
		}
		return nil, err
	}
	return l, nil
}

// RefSuffix names an index entry: INDEX/RUN_ID.ref holds the ledger's path.
const RefSuffix = ".ref"

func writeRef(index, runID, ledger string) (string, error) {
	abs, err := filepath.Abs(ledger)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(index, 0o700); err != nil {
		return "", fmt.Errorf("ledger index: %w", err)
	}
	ref := filepath.Join(index, runID+RefSuffix)
	tmp := ref + ".tmp"
	if err := os.WriteFile(tmp, []byte(abs+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("ledger index: %w", err)
	}
	if err := os.Rename(tmp, ref); err != nil {
		return "", fmt.Errorf("ledger index: %w", err)
	}
	return ref, nil
}

func (l *FileLedger) put(runID, state string, f Fault) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.write(LedgerRecord{RunID: runID, Scenario: l.scenario, Journal: l.journal, State: state, Fault: f}); err != nil {
		return err
	}
	switch state {
	case StateReverted, StateUnknown:
		delete(l.open, f.ID)
	default:
		l.open[f.ID] = true
	}
	return nil
}

// write appends r, fsync'd.
func (l *FileLedger) write(r LedgerRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("ledger %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("ledger %s: %w", l.path, err)
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
		if l.ref != "" {
			if rerr := os.Remove(l.ref); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
				err = rerr
			}
		}
	}
	return err
}

// PendingLedger is a dead run's ledger with the faults it left unreverted.
type PendingLedger struct {
	Path     string
	RunID    string
	Scenario string
	Journal  string  // the run's journal; "" for ledgers older than the field
	Faults   []Fault // latest record of each fault not closed
	Ref      string  // its index entry, if it was found through the index
	lock     *os.File
}

// Record appends a record for f (reverted, unknown or revert-failed) to
// the ledger, fsync'd.
func (p *PendingLedger) Record(state string, f Fault) error {
	b, err := json.Marshal(LedgerRecord{RunID: p.RunID, Scenario: p.Scenario, Journal: p.Journal, State: state, Fault: f})
	if err != nil {
		return err
	}
	if _, err := p.lock.Seek(0, io.SeekEnd); err != nil {
		return fmt.Errorf("ledger %s: %w", p.Path, err)
	}
	if _, err := p.lock.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("ledger %s: %w", p.Path, err)
	}
	if err := p.lock.Sync(); err != nil {
		return fmt.Errorf("ledger %s: %w", p.Path, err)
	}
	return nil
}

// Release unlocks the ledger; with done, it also removes it and its index
// entry.
func (p *PendingLedger) Release(done bool) error {
	var err error
	if done {
		err = os.Remove(p.Path)
		if p.Ref != "" {
			if rerr := os.Remove(p.Ref); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
				err = rerr
			}
		}
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
	return FindPending("", dir)
}

// FindPending is PendingLedgers over every ledger named in the index
// directory (see LedgerOptions.Index) and every ledger in dirs, each once.
// An index entry whose ledger is gone is removed.
func FindPending(index string, dirs ...string) ([]*PendingLedger, error) {
	refOf := map[string]string{}
	var paths []string
	seen := map[string]bool{}
	add := func(p, ref string) {
		abs, err := filepath.Abs(p)
		if err != nil {
			abs = p
		}
		if ref != "" {
			refOf[abs] = ref
		}
		if !seen[abs] {
			seen[abs] = true
			paths = append(paths, abs)
		}
	}
	var errs []error
	if index != "" {
		refs, _ := filepath.Glob(filepath.Join(index, "*"+RefSuffix))
		for _, ref := range refs {
			b, err := os.ReadFile(ref)
			if err != nil {
				errs = append(errs, fmt.Errorf("ledger index: %w", err))
				continue
			}
			p := strings.TrimSpace(string(b))
			if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
				_ = os.Remove(ref) // its run closed the ledger, or recover did
				continue
			}
			add(p, ref)
		}
	}
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		found, err := filepath.Glob(filepath.Join(dir, "*"+LedgerSuffix))
		if err != nil {
			return nil, err
		}
		for _, p := range found {
			add(p, "")
		}
	}
	sort.Strings(paths)
	var out []*PendingLedger
	for _, path := range paths {
		p, err := readPending(path)
		if p != nil {
			p.Ref = refOf[path]
		}
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
	line, bad := 0, 0
	for sc.Scan() {
		line++
		if bad > 0 {
			// Only the last line may be cut short by a crash; a bad line
			// with more after it is corruption, and the ledger is left
			// exactly as it is for a person to look at.
			f.Close()
			return nil, fmt.Errorf("ledger %s: %w: line %d is not a ledger record", path, ErrCorruptLedger, bad)
		}
		var r LedgerRecord
		err := json.Unmarshal(sc.Bytes(), &r)
		if err == nil && r.State == StateRun && r.Fault.ID == "" {
			p.Scenario, p.Journal = r.Scenario, r.Journal
			continue
		}
		if err != nil || r.Fault.ID == "" {
			bad = line
			continue
		}
		if _, seen := latest[r.Fault.ID]; !seen {
			order = append(order, r.Fault.ID)
		}
		latest[r.Fault.ID] = r
		p.Scenario = r.Scenario
		if r.Journal != "" {
			p.Journal = r.Journal
		}
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, fmt.Errorf("read ledger %s: %w", path, err)
	}
	for _, id := range order {
		if r := latest[id]; r.State != StateReverted && r.State != StateUnknown {
			p.Faults = append(p.Faults, r.Fault)
		}
	}
	if p.Journal == "" {
		p.Journal = filepath.Join(filepath.Dir(path), p.RunID+".json")
	}
	return p, nil
}
