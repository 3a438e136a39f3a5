package test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// needDocker skips without CHAOSCTL_E2E=1 and fails loudly with it when the
// docker CLI or the engine is not there.
func needDocker(t *testing.T) {
	t.Helper()
	if os.Getenv("CHAOSCTL_E2E") != "1" {
		t.Skip("needs the Docker Engine: run with CHAOSCTL_E2E=1 (make test does in CI)")
	}
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		t.Fatalf("CHAOSCTL_E2E=1 but Docker is unreachable: %v\n%s", err, out)
	}
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// containerScenario: the same disaster and runbook as restoreScenario, with
// the service in a container (image FROM scratch, built here from the
// static target binary) and its data on a bind mount. The disaster is
// SIGTERM to the container's init process, which deletes the data and
// stops the container; the runbook restores the file and starts the
// container again with the docker CLI.
const containerScenario = `
version = 1
name = "container-restore-from-backup"
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
pid = {{.Pid}}
[fault.params]
signal = "SIGTERM"
[recovery]
recover_within = "20s"
hold_for = "500ms"
[runbook]
rto = "15s"
[[runbook.before]]
name = "write-marker"
kind = "command"
command = ["sh", "-c", "echo marker-{{.Marker}} >> {{.Dir}}/data.txt"]
[[runbook.before]]
name = "backup"
kind = "command"
command = ["cp", "{{.Dir}}/data.txt", "{{.Backup}}"]
[[runbook.step]]
name = "ensure-stopped"
kind = "command"
command = ["docker", "wait", "{{.Name}}"]
timeout = "10s"
[[runbook.step]]
name = "restore"
kind = "command"
command = ["cp", "{{.Backup}}", "{{.Dir}}/data.txt"]
[[runbook.step]]
name = "start"
kind = "command"
command = ["docker", "start", "{{.Name}}"]
timeout = "20s"
[[runbook.step]]
name = "until-available"
kind = "wait"
slo = "available"
timeout = "10s"
[runbook.data_check]
name = "marker-present"
kind = "http"
url = "http://{{.Addr}}/data"
body_regex = "marker-{{.Marker}}"
`

func TestRunbookContainerRestoresFromBackup(t *testing.T) {
	needDocker(t)
	suffix := strconv.Itoa(os.Getpid())
	image, name := "chaosctl-e2e-target:runbook-"+suffix, "chaosctl-e2e-runbook-"+suffix

	// Image FROM scratch with the static target binary: no registry needed.
	ctxDir := t.TempDir()
	b, err := os.ReadFile(bins.target)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "target"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\nCOPY target /target\nENTRYPOINT [\"/target\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	docker(t, "build", "-q", "-t", image, ctxDir)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", image).Run() })

	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "data.txt"), []byte("records\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := strings.TrimPrefix(freeAddr(t), "127.0.0.1:")
	docker(t, "run", "-d", "--name", name, "-p", "127.0.0.1:"+port+":8080", "-v", dataDir+":/data",
		image, "-listen", "0.0.0.0:8080", "-data", "/data/data.txt", "-wipe-on-term", "-start-delay", "300ms")
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })

	addr := "127.0.0.1:" + port
	// Wait for the service to answer before steady state starts.
	waitHTTP(t, "http://"+addr+"/healthz", 10*time.Second)
	pid := docker(t, "inspect", "-f", "{{.State.Pid}}", name)
	vars := map[string]string{
		"Addr": addr, "Pid": pid, "Dir": dataDir, "Backup": filepath.Join(t.TempDir(), "backup.txt"),
		"Name": name, "Marker": "ctr-" + suffix,
	}
	path := writeScenario(t, containerScenario, vars)
	r := chaosctl(t, context.Background(), "run", path)
	if r.code != 0 || r.journal == nil || r.journal.Verdict != journal.Passed {
		t.Fatalf("exit %d, want 0 (passed)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	rb := r.journal.Runbook
	if !rb.Passed || !rb.RTOMet || rb.DataCheck.Status != journal.StepOK {
		t.Fatalf("runbook = %+v", rb)
	}
	if newPid := docker(t, "inspect", "-f", "{{.State.Pid}}", name); newPid == pid {
		t.Errorf("container pid %s unchanged: it was never restarted", pid)
	}
	if f := r.journal.SLOs[0].Phases["recovering"]; f.Availability == 100 {
		t.Errorf("no failed sample while recovering (%+v): the disaster was not seen", f)
	}
}

// waitHTTP polls url until it answers 200 or the time is up.
func waitHTTP(t *testing.T, url string, within time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within %s", url, within)
}
