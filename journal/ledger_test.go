package journal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileLedger(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l, err := CreateLedger(dir, "r1", "s")
	if err != nil {
		t.Fatal(err)
	}
	a := Fault{ID: "a/0", Plugin: "process", RevertData: []byte(`{"pid":1}`)}
	b := Fault{ID: "b/0", Plugin: "disk", RevertData: []byte(`{"path":"/x"}`)}
	for _, step := range []func() error{
		func() error { return l.Intent(ctx, "r1", a) },
		func() error { return l.Injected(ctx, "r1", a) },
		func() error { return l.Intent(ctx, "r1", b) },
		func() error { return l.Reverted(ctx, "r1", a) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	// While the run holds it, the ledger is not pending.
	if p, err := PendingLedgers(dir); err != nil || len(p) != 0 {
		t.Fatalf("live ledger listed as pending: %v %v", p, err)
	}
	// The run dies: its lock goes with its file descriptor. A line cut
	// short by the crash is ignored.
	f, _ := os.OpenFile(filepath.Join(dir, "r1"+LedgerSuffix), os.O_WRONLY|os.O_APPEND, 0)
	_, _ = f.WriteString(`{"run_id":"r1","state":"rever`)
	f.Close()
	l.f.Close()
	p, err := PendingLedgers(dir)
	if err != nil || len(p) != 1 {
		t.Fatalf("pending %v %v", p, err)
	}
	if p[0].RunID != "r1" || p[0].Scenario != "s" || len(p[0].Faults) != 1 || p[0].Faults[0].ID != "b/0" {
		t.Fatalf("pending ledger %+v", p[0])
	}
	if err := p[0].Release(true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p[0].Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("released ledger still there: %v", err)
	}
}

func TestFileLedgerRemovedWhenAllReverted(t *testing.T) {
	dir := t.TempDir()
	l, err := CreateLedger(dir, "r2", "s")
	if err != nil {
		t.Fatal(err)
	}
	f := Fault{ID: "a/0"}
	_ = l.Intent(context.Background(), "r2", f)
	_ = l.Reverted(context.Background(), "r2", f)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Fatalf("left %v", m)
	}
}

// TestCorruptLedgerIsReportedAndKept: a bad line with records after it is
// corruption, not a torn write: the ledger is reported with its path and
// left byte for byte as it was. A torn last line is what a crash leaves,
// and the records before it stand.
func TestCorruptLedgerIsReportedAndKept(t *testing.T) {
	dir := t.TempDir()
	good := `{"run_id":"r","state":"injected","fault":{"id":"f/0","name":"f","plugin":"p","action":"a","target":{"kind":"k","id":"1","name":""},"intent_at":"2026-01-01T00:00:00Z","revert_data":"e30="}}`
	for _, tc := range []struct {
		name, body string
		corrupt    bool
	}{
		{"torn last line", good + "\n" + `{"run_id":"r","sta`, false},
		{"bad line in the middle", good + "\n" + "garbage\n" + good + "\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+LedgerSuffix)
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(path)
			p, err := FindPending("", dir)
			if tc.corrupt {
				if !errors.Is(err, ErrCorruptLedger) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err %v, want ErrCorruptLedger naming %s", err, path)
				}
				if b, _ := os.ReadFile(path); string(b) != tc.body {
					t.Fatalf("the corrupt ledger was changed:\n%s", b)
				}
				return
			}
			if err != nil || len(p) != 1 || len(p[0].Faults) != 1 {
				t.Fatalf("pending %+v err %v, want the one fault before the torn line", p, err)
			}
			_ = p[0].Release(false)
		})
	}
}

// A run that dies before its first fault is still known by its ledger:
// its scenario and the journal it was to write.
func TestLedgerOfARunWithNoFault(t *testing.T) {
	dir := t.TempDir()
	want := filepath.Join(t.TempDir(), "elsewhere.json")
	l, err := CreateLedger(dir, "r3", "checkout", LedgerOptions{Journal: want})
	if err != nil {
		t.Fatal(err)
	}
	l.f.Close() // the run dies
	p, err := PendingLedgers(dir)
	if err != nil || len(p) != 1 {
		t.Fatalf("pending %v %v", p, err)
	}
	if p[0].RunID != "r3" || p[0].Scenario != "checkout" || p[0].Journal != want || len(p[0].Faults) != 0 {
		t.Fatalf("pending ledger %+v", p[0])
	}
	if err := p[0].Release(true); err != nil {
		t.Fatal(err)
	}
}
