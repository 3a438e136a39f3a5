package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/lifecycle"
	"github.com/chaosctl/chaosctl/plugins"
)

var _ lifecycle.Ledger = Ledger{}

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLedgerSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s := open(t, path)
	l := s.Ledger()
	f := journal.Fault{ID: "pause/0", Plugin: "process", Action: "pause", Target: plugins.Target{Kind: "process", ID: "42"}}
	mustOK(t, l.Intent(ctx, "r1", f))
	g := f
	g.ID = "pause/1"
	mustOK(t, l.Intent(ctx, "r1", g))
	f.RevertData = []byte(`{"pid":42}`)
	mustOK(t, l.Injected(ctx, "r1", f))
	h := journal.Fault{ID: "kill/0", Plugin: "process", Action: "kill"}
	mustOK(t, l.Intent(ctx, "r2", h))
	mustOK(t, l.Injected(ctx, "r2", h))
	mustOK(t, l.Reverted(ctx, "r2", h))
	mustOK(t, s.Close())

	s = open(t, path)
	defer s.Close()
	p, err := s.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 2 {
		t.Fatalf("pending %+v, want the two faults of r1", p)
	}
	got := map[string]Entry{}
	for _, e := range p {
		got[e.Fault.ID] = e
	}
	if e := got["pause/0"]; e.State != StateInjected || string(e.Fault.RevertData) != `{"pid":42}` {
		t.Errorf("pause/0: %+v", e)
	}
	if e := got["pause/1"]; e.State != StateIntent || e.Fault.RevertData != nil {
		t.Errorf("pause/1: %+v", e)
	}
	mustOK(t, s.Resolve(ctx, got["pause/0"]))
	if p, _ := s.Pending(); len(p) != 1 || p[0].Fault.ID != "pause/1" {
		t.Errorf("after resolve: %+v", p)
	}
}

func TestRevertFailedStaysPending(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	defer s.Close()
	f := journal.Fault{ID: "a/0", RevertError: "SIGCONT: permission denied"}
	mustOK(t, s.Ledger().Reverted(ctx, "r", f))
	mustOK(t, s.PutRun(&journal.Journal{RunID: "r", Verdict: journal.Error}))
	if p, _ := s.Pending(); len(p) != 1 || p[0].State != StateRevertFailed {
		t.Fatalf("pending %+v", p)
	}
}

func TestRunsHistoryPrune(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	defer s.Close()
	ctx := context.Background()
	for i, id := range []string{"20250101T000000Z-a", "20250101T000001Z-b", "20250101T000002Z-c", "20250101T000003Z-d"} {
		v := journal.Passed
		if i == 0 {
			v = journal.Running
		}
		mustOK(t, s.Ledger().Reverted(ctx, id, journal.Fault{ID: "f/0"}))
		name := "s"
		if i == 2 {
			name = "other"
		}
		mustOK(t, s.PutRun(&journal.Journal{RunID: id, Scenario: name, Verdict: v, Labels: map[string]string{"trigger": "api"}}))
	}
	h, err := s.History(2, "")
	mustOK(t, err)
	if len(h) != 2 || h[0].RunID != "20250101T000003Z-d" || h[0].Trigger != "api" {
		t.Fatalf("history %+v", h)
	}
	// A scenario's history is its latest runs, not the latest runs filtered.
	h, err = s.History(2, "s")
	mustOK(t, err)
	if len(h) != 2 || h[0].RunID != "20250101T000003Z-d" || h[1].RunID != "20250101T000001Z-b" {
		t.Fatalf("history of s %+v", h)
	}
	n, err := s.Prune(2)
	mustOK(t, err)
	if n != 1 {
		t.Fatalf("pruned %d, want 1 (the oldest finished run)", n)
	}
	if _, err := s.Run("20250101T000001Z-b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("pruned run still there: %v", err)
	}
	if j, err := s.Run("20250101T000000Z-a"); err != nil || j.Verdict != journal.Running {
		t.Errorf("running run pruned: %v", err)
	}
}

func TestHaltedPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	s := open(t, path)
	mustOK(t, s.SetHalted(true))
	mustOK(t, s.Close())
	s = open(t, path)
	defer s.Close()
	if h, err := s.Halted(); err != nil || !h {
		t.Fatalf("halted %v %v", h, err)
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	s := open(t, path)
	defer s.Close()
	start := time.Now()
	_, err := Open(path, 300*time.Millisecond)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err %v, want ErrLocked naming %s", err, path)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v to give up", d)
	}
}

func TestOpenCorrupt(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	mustOK(t, os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 1000)), 0o600))
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	mustOK(t, err)
	mustOK(t, db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err }))
	mustOK(t, db.Close())
	truncated := filepath.Join(dir, "truncated.db")
	s := open(t, truncated)
	mustOK(t, s.PutRun(&journal.Journal{RunID: "r", Verdict: journal.Passed}))
	mustOK(t, s.Close())
	mustOK(t, os.Truncate(truncated, 1000))

	for _, path := range []string{garbage, foreign, truncated} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			before, _ := os.ReadFile(path)
			_, err := Open(path, time.Second)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err %v, want ErrCorrupt naming the file", err)
			}
			after, _ := os.ReadFile(path)
			if string(before) != string(after) {
				t.Errorf("the corrupt file was modified")
			}
		})
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
