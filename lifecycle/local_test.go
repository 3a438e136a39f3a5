package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
)

// dieWith writes the ledger that a local run killed with -9 before its
// first fault leaves: its first record alone, unlocked.
func dieWith(t *testing.T, dir, runID string) {
	t.Helper()
	b, err := json.Marshal(journal.LedgerRecord{RunID: runID, Scenario: "checkout", Journal: filepath.Join(dir, runID+".json"), State: journal.StateRun})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, runID+journal.LedgerSuffix), append(b, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A dead run with nothing to revert: InterruptQuiet writes its journal as
// interrupted, naming its samples, unless it wrote a final journal before
// it died; either way its ledger goes.
func TestInterruptQuiet(t *testing.T) {
	dir := t.TempDir()
	dieWith(t, dir, "quiet")
	sl, err := journal.CreateSampleLog(journal.SampleLogBeside(filepath.Join(dir, "quiet.json")))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Minute).Round(0)
	for i := range 4 {
		if err := sl.Record(probes.Sample{Probe: "api", Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), OK: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sl.Close(); err != nil {
		t.Fatal(err)
	}
	dieWith(t, dir, "finished")
	final := &journal.Journal{Format: journal.FormatVersion, RunID: "finished", Scenario: "checkout", Verdict: journal.Passed, Reasons: []string{}}
	if err := journal.Write(filepath.Join(dir, "finished.json"), final); err != nil {
		t.Fatal(err)
	}

	b := &LocalLedgers{Dirs: []string{dir}}
	pending, err := b.Pending(context.Background())
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending faults %v %v, want none", pending, err)
	}
	out, err := b.InterruptQuiet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].RunID != "quiet" || out[0].Scenario != "checkout" {
		t.Fatalf("outcomes %+v, want the quiet run's alone", out)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	j, err := journal.Read(filepath.Join(dir, "quiet.json"))
	if err != nil {
		t.Fatal(err)
	}
	if j.Verdict != journal.Interrupted || j.SamplesTotal != 4 || j.SampleLog != journal.SampleLogBeside(filepath.Join(dir, "quiet.json")) || !j.StartedAt.Equal(t0) {
		t.Errorf("quiet run's journal: verdict %s, %d samples in %q, started %v (want %v)", j.Verdict, j.SamplesTotal, j.SampleLog, j.StartedAt, t0)
	}
	if j, err := journal.Read(filepath.Join(dir, "finished.json")); err != nil || j.Verdict != journal.Passed || len(j.Reasons) != 0 {
		t.Errorf("a final journal was rewritten: %+v %v", j, err)
	}
	for _, id := range []string{"quiet", "finished"} {
		if _, err := os.Stat(filepath.Join(dir, id+journal.LedgerSuffix)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("ledger of %s left: %v", id, err)
		}
	}
}
