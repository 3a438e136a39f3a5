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

// restoreScenario: the disaster (SIGTERM to a target started with
// -wipe-on-term) deletes the data file and stops the service; the runbook
// restores the file from the backup taken before and starts the service
// again; the data check reads the marker written before the disaster.
const restoreScenario = `
version = 1
name = "restore-from-backup"
[postmortem]
id = "INC-7"
[steady]
duration = "1s"
[[probe]]
name = "health"
kind = "http"
interval = "50ms"
timeout = "300ms"
url = "http://{{.Addr}}/healthz"
[[slo]]
name = "available"
probe = "health"
availability = 100.0
window = "500ms"
[[fault]]
name = "disaster"
plugin = "process"
action = "kill"
[fault.target]
pidfile = "{{.Pidfile}}"
[fault.params]
signal = "SIGTERM"
[recovery]
recover_within = "10s"
hold_for = "500ms"
[runbook]
rto = "8s"
[[runbook.before]]
name = "write-marker"
kind = "command"
command = ["sh", "-c", "echo marker-{{.Marker}} >> {{.Data}}"]
[[runbook.before]]
name = "backup"
kind = "command"
command = {{.Backup}}
[[runbook.step]]
# The old instance must be gone (exited, or a zombie) before its files are touched.
name = "ensure-stopped"
kind = "command"
command = ["sh", "-c", "p=$(cat {{.Pidfile}}); while [ -e /proc/$p ] && ! grep -q '^State:.*Z' /proc/$p/status; do sleep 0.05; done"]
timeout = "5s"
[[runbook.step]]
name = "restore"
kind = "command"
command = ["cp", "{{.BackupFile}}", "{{.Data}}"]
[[runbook.step]]
name = "restart"
kind = "command"
command = ["sh", "-c", "setsid {{.Target}} -listen {{.Addr}} -pidfile {{.Pidfile}} -data {{.Data}} -wipe-on-term -start-delay 500ms </dev/null >{{.Log}} 2>&1 &"]
[[runbook.step]]
name = "until-available"
kind = "wait"
slo = "available"
timeout = "5s"
[runbook.data_check]
name = "marker-present"
kind = "http"
url = "http://{{.Addr}}/data"
body_regex = "marker-{{.Marker}}"
`

type restoreVars struct {
	Addr, Pidfile, Data, BackupFile, Backup, Target, Log, Marker string
}

func restoreVarsFor(t *testing.T, tg *target) restoreVars {
	dir := t.TempDir()
	backup := filepath.Join(dir, "backup.txt")
	return restoreVars{
		Addr: tg.addr, Pidfile: tg.pidfile, Data: tg.data, BackupFile: backup,
		Backup: `["cp", "` + tg.data + `", "` + backup + `"]`,
		Target: bins.target, Log: filepath.Join(dir, "restarted.log"), Marker: "e2e-" + time.Now().Format("150405.000"),
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
	v := restoreVarsFor(t, tg)
	r := chaosctl(t, context.Background(), "run", writeScenario(t, restoreScenario, v))
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
	v := restoreVarsFor(t, tg)
	v.Backup = `["cp", "/dev/null", "` + v.BackupFile + `"]`
	r := chaosctl(t, context.Background(), "run", writeScenario(t, restoreScenario, v))
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
	v := restoreVarsFor(t, tg)
	v.Backup = `["cp", "/nonexistent/data.txt", "` + v.BackupFile + `"]`
	before := tg.pid(t)
	r := chaosctl(t, context.Background(), "run", writeScenario(t, restoreScenario, v))
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
