package test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// processScenario has the target's process killed (or paused, for duration)
// and the health probe judge its recovery.
func processScenario(tg *target, action, duration string) scenario {
	s := healthScenario("api-crash", tg.addr, "1s")
	s.Postmortem = "INC-1"
	s.Faults = []fault{{Name: action + "-api", Plugin: "process", Action: action, Keys: keys{"duration": duration}, Target: keys{"pidfile": tg.pidfile}}}
	s.Within, s.Hold = "5s", "1s"
	return s
}

func TestProcessCrashSupervisedRecovers(t *testing.T) {
	tg := startTarget(t, true)
	before := tg.pid(t)
	path := scenarioFile(t, processScenario(tg, "kill", "0s"))
	r := chaosctl(t, context.Background(), "run", path)
	if r.code != 0 || r.journal == nil || r.journal.Verdict != journal.Passed {
		t.Fatalf("exit %d, want 0 (passed)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	j := r.journal
	if j.Recovery == nil || j.Recovery.Duration == nil || !j.Recovery.Recovered {
		t.Fatalf("recovery not measured: %+v", j.Recovery)
	}
	// The supervisor waits 300ms before restarting: recovery can't be faster.
	if d := *j.Recovery.Duration; d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("time to recover %v, want between the restart delay (300ms) and 5s", d)
	}
	if after := tg.pid(t); after == before {
		t.Errorf("pid %d unchanged: the process was not killed", before)
	}
	if len(j.Faults) != 1 || j.Faults[0].InjectedAt == nil || j.Faults[0].Target.ID == "" {
		t.Fatalf("fault not journalled: %+v", j.Faults)
	}
	// A kill is instantaneous: the outage shows between the injection and
	// the recovery instant.
	f, ok := j.SLOs[0].Phases["recovering"]
	if !ok || f.Samples == 0 || f.Availability == 100 {
		t.Errorf("recovering-phase figures %+v: the probe never saw the outage", f)
	}
	if !strings.Contains(r.stdout, "PASSED") {
		t.Errorf("summary lacks the verdict:\n%s", r.stdout)
	}
}

func TestProcessCrashUnsupervisedNotRecovered(t *testing.T) {
	tg := startTarget(t, false)
	s := processScenario(tg, "kill", "0s")
	s.Within = "1s"
	path := scenarioFile(t, s)
	r := chaosctl(t, context.Background(), "run", path)
	if r.code != 1 || r.journal.Verdict != journal.Failed {
		t.Fatalf("exit %d verdict %v, want 1 (failed)\n%s\n%s", r.code, r.journal.Verdict, r.stdout, r.stderr)
	}
	if !strings.Contains(strings.Join(r.journal.Reasons, "\n"), "not recovered") {
		t.Errorf("reasons %q do not say 'not recovered'", r.journal.Reasons)
	}
	if r.journal.Recovery.Recovered {
		t.Error("journal says recovered")
	}
}

// TestRecoveryGroundTruth pauses the target (SIGSTOP) for a known time: the
// outage is exactly the pause. The measured time to recover must be within
// one probe interval + 20ms of it.
func TestRecoveryGroundTruth(t *testing.T) {
	tg := startTarget(t, false)
	s := processScenario(tg, "pause", "1200ms")
	s.Probes[0].Timeout, s.Hold = "200ms", "500ms"
	path := scenarioFile(t, s)
	r := chaosctl(t, context.Background(), "run", path)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.journal.Faults[0]
	truth := f.RevertedAt.Sub(f.IntentAt) // SIGSTOP was sent after IntentAt, SIGCONT before RevertedAt
	measured := *r.journal.Recovery.Duration
	tolerance := 50*time.Millisecond + 20*time.Millisecond
	if diff := (measured - truth).Abs(); diff > tolerance {
		t.Fatalf("measured recovery %v, truth %v: off by %v, more than %v", measured, truth, diff, tolerance)
	}
	t.Logf("outage %v, measured %v", truth, measured)
}

func TestNotSteadyInjectsNothing(t *testing.T) {
	tg := startTarget(t, false)
	s := processScenario(tg, "kill", "0s")
	s.Probes[0] = healthProbe(freeAddr(t), "50ms", "300ms") // nothing listens there: steady state cannot hold
	pid := tg.pid(t)
	r := chaosctl(t, context.Background(), "run", scenarioFile(t, s))
	if r.code != 3 || r.journal.Verdict != journal.NotSteady {
		t.Fatalf("exit %d, want 3 (not-steady)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("target %d was hit although steady state did not hold: %v", pid, err)
	}
	if r.journal.Faults[0].InjectedAt != nil {
		t.Fatal("journal records an injection")
	}
}

func TestStopConditionAbortsAndReverts(t *testing.T) {
	tg := startTarget(t, false)
	s := processScenario(tg, "pause", "20s")
	s.Extra = "[safety]\n[[safety.stop]]\nprobe = \"health\"\nmax_error_ratio = 50.0\nwindow = \"600ms\"\n"
	start := time.Now()
	r := chaosctl(t, context.Background(), "run", scenarioFile(t, s))
	if r.code != 4 || r.journal.Verdict != journal.Aborted {
		t.Fatalf("exit %d, want 4 (aborted)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("run took %v: the stop condition did not cut the 20s fault short", time.Since(start))
	}
	assertRunning(t, tg.pid(t))
	if f := r.journal.Faults[0]; f.RevertedAt == nil || f.RevertError != "" {
		t.Fatalf("fault not reverted: %+v", f)
	}
}

// TestInterruptReverts sends SIGINT (Ctrl-C) to chaosctl while the target is
// paused: the pause must be reverted and the run journalled as aborted.
func TestInterruptReverts(t *testing.T) {
	tg := startTarget(t, false)
	path := scenarioFile(t, processScenario(tg, "pause", "30s"))
	jpath := t.TempDir() + "/j.json"
	cmd := exec.Command(bins.chaosctl, "run", path, "--journal", jpath)
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
	_ = cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 {
		t.Fatalf("exit %v, want 4 (aborted)", err)
	}
	assertRunning(t, pid)
	j, err := journal.Read(jpath)
	if err != nil {
		t.Fatal(err)
	}
	if j.Verdict != journal.Aborted || j.Faults[0].RevertedAt == nil {
		t.Fatalf("verdict %s, fault %+v", j.Verdict, j.Faults[0])
	}
}

func TestDryRunInjectsNothing(t *testing.T) {
	tg := startTarget(t, false)
	pid := tg.pid(t)
	r := chaosctl(t, context.Background(), "run", "--dry-run", scenarioFile(t, processScenario(tg, "kill", "0s")))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "process:") || !strings.Contains(r.stdout, "would hit") {
		t.Errorf("dry run does not print the target:\n%s", r.stdout)
	}
	assertRunning(t, pid)
	if tg.pid(t) != pid {
		t.Error("target restarted during a dry run")
	}
}

// stopped reports whether pid is in state T (stopped).
func stopped(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] == 'T'
}

func assertRunning(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("target %d gone: %v", pid, err)
	}
	if stopped(pid) {
		t.Fatalf("target %d is still stopped: the pause was not reverted", pid)
	}
}
