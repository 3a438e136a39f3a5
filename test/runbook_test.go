package test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// restore is a disaster and the runbook that undoes it. The disaster
// (SIGTERM to a target started with -wipe-on-term) deletes the data file
// and stops the service; the runbook restores the file from the backup
// taken before and starts the service again; the data check reads the
// marker written before the disaster.
type restore struct {
	Name, Postmortem string
	Addr             string // the service; the data check reads its /data
	Target           keys   // the process the disaster's SIGTERM goes to
	Data, BackupFile string
	Backup           []string // the backup step's command
	Marker           string
	// After the disaster: Stopped waits until the old instance is gone,
	// Start starts the service again.
	Stopped, Start    step
	Within, RTO, Wait string // recover_within, the runbook's rto, the wait for the SLO
}

func (r restore) scenario() scenario {
	s := healthScenario(r.Name, r.Addr, "1s")
	s.Postmortem = r.Postmortem
	s.SLOs[0].Window = "500ms"
	s.Faults = []fault{{Name: "disaster", Plugin: "process", Action: "kill", Target: r.Target, Params: keys{"signal": "SIGTERM"}}}
	s.Within, s.Hold = r.Within, "500ms"
	s.Runbook = &runbook{RTO: r.RTO,
		Before: []step{
			command("write-marker", "sh", "-c", "echo marker-"+r.Marker+" >> "+r.Data),
			command("backup", r.Backup...),
		},
		Steps: []step{
			r.Stopped,
			command("restore", "cp", r.BackupFile, r.Data),
			r.Start,
			{Name: "until-available", Kind: "wait", Keys: keys{"slo": "available", "timeout": r.Wait}},
		},
		DataCheck: &step{Name: "marker-present", Kind: "http", Keys: keys{"url": "http://" + r.Addr + "/data", "body_regex": "marker-" + r.Marker}},
	}
	return s
}

// restoreFor is the restore of a target on this machine.
func restoreFor(t *testing.T, tg *target) restore {
	dir := t.TempDir()
	backup := filepath.Join(dir, "backup.txt")
	// The old instance must be gone (exited, or a zombie) before its files are touched.
	stopped := command("ensure-stopped", "sh", "-c", "p=$(cat "+tg.pidfile+"); while [ -e /proc/$p ] && ! grep -q '^State:.*Z' /proc/$p/status; do sleep 0.05; done")
	stopped.Keys["timeout"] = "5s"
	return restore{
		Name: "restore-from-backup", Postmortem: "INC-7", Addr: tg.addr, Target: keys{"pidfile": tg.pidfile},
		Data: tg.data, BackupFile: backup, Backup: []string{"cp", tg.data, backup}, Marker: "e2e-" + time.Now().Format("150405.000"),
		Stopped: stopped,
		Start: command("restart", "sh", "-c", "setsid "+bins.target+" -listen "+tg.addr+" -pidfile "+tg.pidfile+" -data "+tg.data+
			" -wipe-on-term -start-delay 500ms </dev/null >"+filepath.Join(dir, "restarted.log")+" 2>&1 &"),
		Within: "10s", RTO: "8s", Wait: "5s",
	}
}

// killRestarted stops the service a runbook started. It runs in a session
// of its own, outside the test's process group, and on a busy machine it
// may not have written its pidfile yet when the test ends: it is found by
// the test's own data path on its command line (unique to the test), in a
// short bounded sweep that also catches one still being exec'd.
func killRestarted(t *testing.T, tg *target) {
	t.Cleanup(func() {
		for range 5 {
			for _, pid := range procsWith(bins.target, tg.data) {
				if pid != tg.cmd.Process.Pid {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func runbookSteps(rb *journal.Runbook) map[string]journal.Step {
	out := map[string]journal.Step{}
	for _, s := range append(append([]journal.Step{}, rb.Before...), rb.Steps...) {
		out[s.Name] = s
	}
	if rb.DataCheck != nil {
		out[rb.DataCheck.Name] = *rb.DataCheck
	}
	return out
}

func TestRunbookRestoresFromBackup(t *testing.T) {
	tg := startTarget(t, false, "-wipe-on-term")
	killRestarted(t, tg)
	before := tg.pid(t)
	v := restoreFor(t, tg)
	r := chaosctl(t, context.Background(), "run", scenarioFile(t, v.scenario()))
	if r.code != 0 || r.journal == nil || r.journal.Verdict != journal.Passed {
		t.Fatalf("exit %d, want 0 (passed)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	rb := r.journal.Runbook
	if rb == nil || !rb.Passed || !rb.RTOMet || rb.TimeToRestore == nil {
		t.Fatalf("runbook = %+v", rb)
	}
	steps := runbookSteps(rb)
	for _, name := range []string{"write-marker", "backup", "ensure-stopped", "restore", "restart", "until-available", "marker-present"} {
		if s := steps[name]; s.Status != journal.StepOK || s.Started.IsZero() {
			t.Errorf("step %s = %+v, want ok", name, s)
		}
	}
	// The disaster was real: the service went down and its pid changed.
	if tg.pid(t) == before {
		t.Error("pid unchanged: the service was never restarted")
	}
	if f := r.journal.SLOs[0].Phases["recovering"]; f.Availability == 100 {
		t.Errorf("no failed sample while recovering (%+v): the disaster was not seen", f)
	}
	// Restoring took at least as long as the restore and restart steps.
	if *rb.TimeToRestore < steps["restart"].Started.Sub(rb.DisasterAt) {
		t.Errorf("time to restore %v is before the restart step began", *rb.TimeToRestore)
		for _, s := range r.journal.Samples {
			t.Logf("%v %v %v %s", s.Time.Sub(rb.DisasterAt), s.OK, s.Latency, s.Err)
		}
	}
	data, err := os.ReadFile(tg.data)
	if err != nil || !strings.Contains(string(data), "marker-"+v.Marker) {
		t.Errorf("data file after the run: %q %v", data, err)
	}
	if !strings.Contains(r.stdout, "runbook") || !strings.Contains(r.stdout, "PASSED") {
		t.Errorf("summary lacks the runbook:\n%s", r.stdout)
	}
}

// TestRunbookBrokenBackupFails: the backup step "succeeds" but saves
// nothing, so the restored service is up without its data: the data check
// fails the run, and says why.
func TestRunbookBrokenBackupFails(t *testing.T) {
	tg := startTarget(t, false, "-wipe-on-term")
	killRestarted(t, tg)
	v := restoreFor(t, tg)
	v.Backup = []string{"cp", "/dev/null", v.BackupFile}
	r := chaosctl(t, context.Background(), "run", scenarioFile(t, v.scenario()))
	if r.code != 1 || r.journal == nil || r.journal.Verdict != journal.Failed {
		t.Fatalf("exit %d, want 1 (failed)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	rb := r.journal.Runbook
	if rb.Passed || !rb.RTOMet || rb.DataCheck == nil || rb.DataCheck.Status != journal.StepFailed {
		t.Fatalf("runbook = %+v, want service restored in time but the data check failed", rb)
	}
	want := `runbook: data check marker-present failed: GET http://` + v.Addr + `/data: body does not match "marker-` + v.Marker + `"`
	if !strings.Contains(strings.Join(r.journal.Reasons, "\n"), want) {
		t.Errorf("reasons %q lack %q", r.journal.Reasons, want)
	}
}

// TestRunbookFailedBackupInjectsNothing: a backup that fails stops the run
// before the disaster.
func TestRunbookFailedBackupInjectsNothing(t *testing.T) {
	tg := startTarget(t, false, "-wipe-on-term")
	v := restoreFor(t, tg)
	v.Backup = []string{"cp", "/nonexistent/data.txt", v.BackupFile}
	before := tg.pid(t)
	r := chaosctl(t, context.Background(), "run", scenarioFile(t, v.scenario()))
	if r.code != 1 || r.journal.Verdict != journal.Failed {
		t.Fatalf("exit %d, want 1 (failed)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	reasons := strings.Join(r.journal.Reasons, "\n")
	if !strings.Contains(reasons, "runbook before backup failed: cp: exit 1") || !strings.Contains(reasons, "nothing was injected") {
		t.Errorf("reasons %q", r.journal.Reasons)
	}
	if tg.pid(t) != before || r.journal.Faults[0].InjectedAt != nil {
		t.Error("the disaster was injected after the backup failed")
	}
	if _, err := os.Stat(tg.data); err != nil {
		t.Errorf("data file gone: %v", err)
	}
}
