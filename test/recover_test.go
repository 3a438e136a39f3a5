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
	"github.com/chaosctl/chaosctl/probes"
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
	samples := waitSampleLog(t, filepath.Join(dir, "*.samples.jsonl"))
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
	assertAdoptsSampleLog(t, j, samples, r.stdout)
	assertRecoveredForGood(t, dir, ledgers[0])
}

// TestLocalRunKilledBeforeAnyFault: a local run killed with -9 in its
// steady phase has nothing to revert, but it died: recover writes its
// journal as interrupted, naming the samples it took, and removes its
// ledger.
func TestLocalRunKilledBeforeAnyFault(t *testing.T) {
	tg := startTarget(t, false)
	s := processScenario(tg, "pause", "10m")
	s.Steady = "1m"
	s.SLOs[0].Window = "1m"
	path := scenarioFile(t, s)
	dir := t.TempDir()
	cmd := exec.Command(bins.chaosctl, "run", "--local", path, "--journal-dir", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	samples := waitSampleLog(t, filepath.Join(dir, "*.samples.jsonl"))
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if stopped(tg.pid(t)) {
		t.Fatal("the target was paused in the steady phase")
	}
	ledgers, _ := filepath.Glob(filepath.Join(dir, "*.ledger"))
	if len(ledgers) != 1 {
		t.Fatalf("ledgers after the crash: %v", ledgers)
	}
	runID := strings.TrimSuffix(filepath.Base(ledgers[0]), ".ledger")

	r := chaosctlIn(t, "recover", "--journal-dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "run "+runID) || !strings.Contains(r.stdout, "0 reverted") {
		t.Fatalf("recover: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	j, err := journal.Read(filepath.Join(dir, runID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if j.Verdict != journal.Interrupted || len(j.Faults) != 0 {
		t.Fatalf("journal verdict %s faults %+v", j.Verdict, j.Faults)
	}
	assertAdoptsSampleLog(t, j, samples, r.stdout)
	assertRecoveredForGood(t, dir, ledgers[0])
}

// assertRecoveredForGood: the dead run's ledger is gone, and a second
// recover has nothing to do.
func assertRecoveredForGood(t *testing.T, dir, ledger string) {
	t.Helper()
	if _, err := os.Stat(ledger); !os.IsNotExist(err) {
		t.Errorf("ledger left after recovery: %v", err)
	}
	if r := chaosctlIn(t, "recover", "--journal-dir", dir); !strings.Contains(r.stdout, "nothing to recover") {
		t.Errorf("second recover: %s", r.stdout)
	}
}

// waitSampleLog waits for the one sample log that glob matches to have
// samples flushed to it (about once a second), and returns its path.
func waitSampleLog(t *testing.T, glob string) string {
	t.Helper()
	var path string
	eventually(t, "samples in the run's sample log", 10*time.Second, func() bool {
		logs, _ := filepath.Glob(glob)
		if len(logs) != 1 {
			return false
		}
		st, err := os.Stat(logs[0])
		path = logs[0]
		return err == nil && st.Size() > 0
	})
	return path
}

// assertAdoptsSampleLog: the dead run's journal has every sample of its
// sample log, names it and spans its samples, and recover's output names
// it.
func assertAdoptsSampleLog(t *testing.T, j *journal.Journal, path, stdout string) {
	t.Helper()
	n := 0
	var first time.Time
	if err := journal.ReadSampleLog(path, func(s probes.Sample) error {
		if n == 0 {
			first = s.Time
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if j.SampleLog != path || j.SamplesTotal != n || n == 0 || len(j.Samples) != n {
		t.Errorf("journal sample log %q (%d samples), want %q (%d)", j.SampleLog, j.SamplesTotal, path, n)
	}
	if j.StartedAt.After(first) {
		t.Errorf("journal starts at %v, after its first sample at %v", j.StartedAt, first)
	}
	if !strings.Contains(stdout, "samples "+path) {
		t.Errorf("recover's output does not name the sample log %s:\n%s", path, stdout)
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
