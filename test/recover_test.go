package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// TestLocalRunKilledIsRecovered: a local run (no daemon) killed with -9
// while it holds a process paused leaves its write-ahead ledger; `chaosctl
// recover` resumes the process and writes the run's journal as
// interrupted, and the ledger is gone.
func TestLocalRunKilledIsRecovered(t *testing.T) {
	tg := startTarget(t, false)
	path := scenarioFile(t, processScenario(tg, "pause", "10m"))
	dir := t.TempDir()
	cmd := exec.Command(bins.chaosctl, "run", "--local", path, "--journal-dir", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := tg.pid(t)
	deadline := time.Now().Add(10 * time.Second)
	for !stopped(pid) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("target never paused")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	time.Sleep(200 * time.Millisecond)
	if !stopped(pid) {
		t.Fatal("the pause ended with the run: this test proves nothing")
	}
	ledgers, _ := filepath.Glob(filepath.Join(dir, "*.ledger"))
	if len(ledgers) != 1 {
		t.Fatalf("ledgers after the crash: %v", ledgers)
	}

	r := chaosctlIn(t, "recover", "--journal-dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "1 reverted") {
		t.Fatalf("recover: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	assertRunning(t, pid)
	runID := strings.TrimSuffix(filepath.Base(ledgers[0]), ".ledger")
	j, err := journal.Read(filepath.Join(dir, runID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if j.Verdict != journal.Interrupted || len(j.Faults) != 1 || j.Faults[0].RevertedAt == nil {
		t.Fatalf("journal verdict %s faults %+v", j.Verdict, j.Faults)
	}
	if _, err := os.Stat(ledgers[0]); !os.IsNotExist(err) {
		t.Errorf("ledger left after a full recovery: %v", err)
	}
	// Nothing more to do the second time.
	if r := chaosctlIn(t, "recover", "--journal-dir", dir); !strings.Contains(r.stdout, "nothing to recover") {
		t.Errorf("second recover: %s", r.stdout)
	}
}

// chaosctlIn runs the binary with exactly args (no journal of its own).
func chaosctlIn(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.chaosctl, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}
