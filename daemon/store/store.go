// Package store is the daemon's durable state on bbolt: run journals, a
// run index for history, the halt switch and the write-ahead fault ledger.
// Every write is one bbolt transaction, fsync'd before it returns, so an
// intent recorded here survives a kill -9 that follows it.
package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/chaosctl/chaosctl/journal"
)

// Sentinel errors.
var (
	ErrLocked   = errors.New("store is locked by another process (is another chaosctl daemon running?)")
	ErrCorrupt  = errors.New("store is corrupt or not a chaosctl store")
	ErrNotFound = errors.New("not found")
)

// FormatVersion is the layout of the buckets below.
const FormatVersion = "1"

var (
	bMeta   = []byte("meta")
	bRuns   = []byte("runs")   // run id -> journal JSON
	bIndex  = []byte("index")  // run id -> RunSummary JSON
	bLedger = []byte("ledger") // run id \x00 fault id -> Entry JSON

	kFormat = []byte("format")
	kHalted = []byte("halted")
)

// Store is an open store file. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
}

// Open opens or creates the store at path. When another process holds
// the file it gives up after lockTimeout with ErrLocked; a file that is
// not a valid chaosctl store gives ErrCorrupt and is left untouched.
func Open(path string, lockTimeout time.Duration) (s *Store, err error) {
	if lockTimeout <= 0 {
		lockTimeout = 2 * time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	existed := false
	if fi, err := os.Stat(path); err == nil {
		existed = fi.Size() > 0
	}
	// bbolt panics on some kinds of damage; a damaged file must become an
	// error, not a crash loop.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("store %s: %w: %v", path, ErrCorrupt, r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("store %s: %w (gave up after %s)", path, ErrLocked, lockTimeout)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum),
		errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrInvalidMapping):
		return nil, fmt.Errorf("store %s: %w: %v; move it aside to start with an empty store", path, ErrCorrupt, err)
	case err != nil:
		if existed {
			return nil, fmt.Errorf("store %s: %w: %v", path, ErrCorrupt, err)
		}
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	s = &Store{db: db, path: path}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("store %s: %w: a bbolt file without chaosctl's meta bucket", s.path, ErrCorrupt)
			}
			var err error
			if meta, err = tx.CreateBucket(bMeta); err != nil {
				return fmt.Errorf("store %s: %w", s.path, err)
			}
			if err := meta.Put(kFormat, []byte(FormatVersion)); err != nil {
				return err
			}
		}
		if v := meta.Get(kFormat); string(v) != FormatVersion {
			return fmt.Errorf("store %s: %w: format %q, this chaosctl reads %q", s.path, ErrCorrupt, v, FormatVersion)
		}
		for _, b := range [][]byte{bRuns, bIndex, bLedger} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("store %s: %w", s.path, err)
			}
		}
		return nil
	})
}

// Path is the store file.
func (s *Store) Path() string { return s.path }

// Close releases the file and its lock.
func (s *Store) Close() error { return s.db.Close() }

// RunSummary is one line of history.
type RunSummary struct {
	RunID     string          `json:"run_id"`
	Scenario  string          `json:"scenario"`
	Trigger   string          `json:"trigger"` // schedule, api, file
	Verdict   journal.Verdict `json:"verdict"`
	ExitCode  int             `json:"exit_code"`
	StartedAt time.Time       `json:"started_at"`
	EndedAt   time.Time       `json:"ended_at,omitzero"`
	Reasons   []string        `json:"reasons,omitempty"`
}

// Summarize makes the history line of a journal.
func Summarize(j *journal.Journal) RunSummary {
	return RunSummary{
		RunID: j.RunID, Scenario: j.Scenario, Trigger: j.Labels["trigger"], Verdict: j.Verdict,
		ExitCode: j.Verdict.ExitCode(), StartedAt: j.StartedAt, EndedAt: j.EndedAt, Reasons: j.Reasons,
	}
}

// PutRun stores a run's journal and its history line. When the run is
// over, ledger entries of its faults that were reverted cleanly are
// dropped in the same transaction: the journal now holds their story.
func (s *Store) PutRun(j *journal.Journal) error {
	jb, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode journal %s: %w", j.RunID, err)
	}
	sb, err := json.Marshal(Summarize(j))
	if err != nil {
		return fmt.Errorf("encode summary %s: %w", j.RunID, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		id := []byte(j.RunID)
		if err := tx.Bucket(bRuns).Put(id, jb); err != nil {
			return err
		}
		if err := tx.Bucket(bIndex).Put(id, sb); err != nil {
			return err
		}
		if j.Verdict == journal.Running {
			return nil
		}
		return compactLedger(tx, j.RunID)
	})
	if err != nil {
		return fmt.Errorf("store run %s: %w", j.RunID, err)
	}
	return nil
}

func compactLedger(tx *bolt.Tx, runID string) error {
	b := tx.Bucket(bLedger)
	prefix := append([]byte(runID), 0)
	var drop [][]byte
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var e Entry
		if json.Unmarshal(v, &e) == nil && e.State == StateReverted {
			drop = append(drop, bytes.Clone(k))
		}
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Run returns a stored journal.
func (s *Store) Run(runID string) (*journal.Journal, error) {
	var j journal.Journal
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bRuns).Get([]byte(runID))
		if v == nil {
			return fmt.Errorf("run %s: %w", runID, ErrNotFound)
		}
		if err := json.Unmarshal(v, &j); err != nil {
			return fmt.Errorf("run %s: %w: %v", runID, ErrCorrupt, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &j, nil
}

// History lists up to limit runs, newest first (run ids sort by start
// time). limit <= 0: all.
func (s *Store) History(limit int, scenario string) ([]RunSummary, error) {
	var out []RunSummary
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bIndex).Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var r RunSummary
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("history %s: %w: %v", k, ErrCorrupt, err)
			}
			if scenario != "" && r.Scenario != scenario {
				continue
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// SampleLogDir is where runs' sample logs are: a directory beside the
// store file, so they live and are pruned with it.
func (s *Store) SampleLogDir() string {
	return filepath.Join(filepath.Dir(s.path), "samples")
}

// ErrBadRunID is a run id that cannot name a file.
var ErrBadRunID = errors.New("run id cannot name a sample log")

// SampleLogPath is where run runID's sample log is.
func (s *Store) SampleLogPath(runID string) (string, error) {
	if runID == "" || runID == "." || runID == ".." || strings.ContainsAny(runID, `/\`+"\x00") {
		return "", fmt.Errorf("%w: %q", ErrBadRunID, runID)
	}
	return filepath.Join(s.SampleLogDir(), runID+sampleLogExt), nil
}

const sampleLogExt = ".jsonl"

// CreateSampleLog creates run runID's sample log. It goes when the run is
// pruned.
func (s *Store) CreateSampleLog(runID string) (*journal.SampleLog, error) {
	p, err := s.SampleLogPath(runID)
	if err != nil {
		return nil, err
	}
	return journal.CreateSampleLog(p)
}

// Prune keeps the newest keep finished runs and deletes older ones, with
// their sample logs, and any sample log of a run the store does not know.
// Running runs are never pruned. It returns how many were deleted.
func (s *Store) Prune(keep int) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		idx, runs := tx.Bucket(bIndex), tx.Bucket(bRuns)
		var drop [][]byte
		seen := 0
		c := idx.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var r RunSummary
			if json.Unmarshal(v, &r) == nil && r.Verdict == journal.Running {
				continue
			}
			seen++
			if seen > keep {
				drop = append(drop, bytes.Clone(k))
			}
		}
		for _, k := range drop {
			if err := idx.Delete(k); err != nil {
				return err
			}
			if err := runs.Delete(k); err != nil {
				return err
			}
			if err := compactLedger(tx, string(k)); err != nil {
				return err
			}
		}
		n = len(drop)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune history: %w", err)
	}
	if err := s.pruneSampleLogs(); err != nil {
		return n, fmt.Errorf("prune history: %w", err)
	}
	return n, nil
}

// pruneSampleLogs deletes the sample logs of runs not in the index. A run
// is in the index from its start, before its log is created, so a live
// run's log is never taken.
func (s *Store) pruneSampleLogs() error {
	ents, err := os.ReadDir(s.SampleLogDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sample logs: %w", err)
	}
	var drop []string
	err = s.db.View(func(tx *bolt.Tx) error {
		idx := tx.Bucket(bIndex)
		for _, e := range ents {
			id, ok := strings.CutSuffix(e.Name(), sampleLogExt)
			if ok && e.Type().IsRegular() && idx.Get([]byte(id)) == nil {
				drop = append(drop, e.Name())
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range drop {
		if err := os.Remove(filepath.Join(s.SampleLogDir(), name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("sample log: %w", err))
		}
	}
	return errors.Join(errs...)
}

// SetHalted persists the kill switch, so that a halted daemon stays
// halted across restarts until resumed.
func (s *Store) SetHalted(halted bool) error {
	v := []byte("0")
	if halted {
		v = []byte("1")
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put(kHalted, v) }); err != nil {
		return fmt.Errorf("store halt switch: %w", err)
	}
	return nil
}

// Halted reads the kill switch.
func (s *Store) Halted() (bool, error) {
	var h bool
	err := s.db.View(func(tx *bolt.Tx) error {
		h = string(tx.Bucket(bMeta).Get(kHalted)) == "1"
		return nil
	})
	return h, err
}

// State is where a fault stands in the ledger.
type State string

const (
	StateIntent       State = "intent"        // about to be injected; no revert data yet
	StateInjected     State = "injected"      // injected; revert data recorded
	StateReverted     State = "reverted"      // reverted cleanly
	StateRevertFailed State = "revert-failed" // revert attempted and failed: still to be reverted
	// StateUnknown: intent recorded, no revert data; nothing can revert
	// it. Closed, never "reverted": listed until an operator forgets it.
	StateUnknown State = "unknown"
	// StateForgotten: an operator cleared a fault that could not be
	// reverted (chaosctl faults forget).
	StateForgotten State = "forgotten"
)

// Entry is one fault in the write-ahead ledger.
type Entry struct {
	RunID   string        `json:"run_id"`
	State   State         `json:"state"`
	Fault   journal.Fault `json:"fault"`
	Updated time.Time     `json:"updated"`
}

// Ledger is the store's write-ahead fault ledger; it implements
// lifecycle.Ledger.
type Ledger struct{ s *Store }

// Ledger returns the fault ledger.
func (s *Store) Ledger() Ledger { return Ledger{s} }

func ledgerKey(runID, faultID string) []byte {
	return append(append([]byte(runID), 0), faultID...)
}

func (s *Store) putEntry(ctx context.Context, e Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.Updated = time.Now()
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode ledger entry: %w", err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bLedger).Put(ledgerKey(e.RunID, e.Fault.ID), b)
	}); err != nil {
		return fmt.Errorf("ledger %s %s/%s: %w", e.State, e.RunID, e.Fault.ID, err)
	}
	return nil
}

// Intent records, durably, that f is about to be injected.
func (l Ledger) Intent(ctx context.Context, runID string, f journal.Fault) error {
	return l.s.putEntry(ctx, Entry{RunID: runID, State: StateIntent, Fault: f})
}

// Injected records f's revert data.
func (l Ledger) Injected(ctx context.Context, runID string, f journal.Fault) error {
	return l.s.putEntry(ctx, Entry{RunID: runID, State: StateInjected, Fault: f})
}

// Reverted records that f was reverted, or that its revert failed (then
// it stays pending and is reverted again when the daemon starts).
func (l Ledger) Reverted(ctx context.Context, runID string, f journal.Fault) error {
	st := StateReverted
	if f.RevertError != "" {
		st = StateRevertFailed
	}
	return l.s.putEntry(ctx, Entry{RunID: runID, State: st, Fault: f})
}

// Pending lists faults still to be reverted (not reverted, unknown or
// forgotten), oldest run first.
func (s *Store) Pending() ([]Entry, error) {
	return s.entries(func(e Entry) bool {
		return e.State != StateReverted && e.State != StateUnknown && e.State != StateForgotten
	})
}

// Unreverted lists the faults an operator must look at: failed reverts
// (retried) and faults in an unknown state.
func (s *Store) Unreverted() ([]Entry, error) {
	return s.entries(func(e Entry) bool { return e.State == StateRevertFailed || e.State == StateUnknown })
}

// Forget marks an unreverted fault cleared by an operator.
func (s *Store) Forget(ctx context.Context, runID, faultID, note string) (Entry, error) {
	e, err := s.Entry(runID, faultID)
	if err != nil {
		return e, err
	}
	if e.State != StateRevertFailed && e.State != StateUnknown {
		return e, fmt.Errorf("fault %s/%s is %s: %w", runID, faultID, e.State, ErrNotUnreverted)
	}
	e.State = StateForgotten
	e.Fault.Notes = append(e.Fault.Notes, note)
	return e, s.putEntry(ctx, e)
}

// ErrNotUnreverted: the fault is not one that failed to revert.
var ErrNotUnreverted = errors.New("not an unreverted fault")

func (s *Store) entries(keep func(Entry) bool) ([]Entry, error) {
	var out []Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bLedger).ForEach(func(k, v []byte) error {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("ledger entry %q: %w: %v", k, ErrCorrupt, err)
			}
			if keep(e) {
				out = append(out, e)
			}
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].RunID < out[j].RunID })
	return out, err
}

// Resolve closes a pending entry after a revert on restart or a retry:
// reverted when the fault carries RevertedAt, unknown otherwise (never
// "reverted" without a revert), keeping the fault as the caller updated it.
func (s *Store) Resolve(ctx context.Context, e Entry) error {
	e.State = StateReverted
	if e.Fault.RevertedAt == nil {
		e.State = StateUnknown
	}
	return s.putEntry(ctx, e)
}

// Entry is the ledger entry of one fault, ErrNotFound when there is none.
func (s *Store) Entry(runID, faultID string) (Entry, error) {
	var e Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bLedger).Get(ledgerKey(runID, faultID))
		if v == nil {
			return fmt.Errorf("fault %s/%s: %w", runID, faultID, ErrNotFound)
		}
		return json.Unmarshal(v, &e)
	})
	return e, err
}

// Compact drops the reverted ledger entries of a run whose story is kept
// elsewhere: a node agent's faults, which have no run journal.
func (s *Store) Compact(runID string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return compactLedger(tx, runID) })
}
