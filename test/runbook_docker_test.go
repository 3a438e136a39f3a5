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

// TestRunbookContainerRestoresFromBackup: the same disaster and runbook as
// TestRunbookRestoresFromBackup, with the service in a container (image
// FROM scratch, built here from the static target binary) and its data on
// a bind mount. The disaster is SIGTERM to the container's init process,
// which deletes the data and stops the container; the runbook restores the
// file and starts the container again with the docker CLI.
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
	docker(t, "build", "-q", "--label", testLabel+"=1", "-t", image, ctxDir)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", image).Run() })

	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "data.txt"), []byte("records\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := strings.TrimPrefix(freeAddr(t), "127.0.0.1:")
	docker(t, "run", "-d", "--name", name, "--label", testLabel+"=1", "-p", "127.0.0.1:"+port+":8080", "-v", dataDir+":/data",
		image, "-listen", "0.0.0.0:8080", "-data", "/data/data.txt", "-wipe-on-term", "-start-delay", "300ms")
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })

	addr := "127.0.0.1:" + port
	// Wait for the service to answer before steady state starts.
	waitHTTP(t, "http://"+addr+"/healthz", 10*time.Second)
	pid := docker(t, "inspect", "-f", "{{.State.Pid}}", name)
	data, backup := filepath.Join(dataDir, "data.txt"), filepath.Join(t.TempDir(), "backup.txt")
	pidn, err := strconv.Atoi(pid)
	if err != nil {
		t.Fatal(err)
	}
	stopped, start := command("ensure-stopped", "docker", "wait", name), command("start", "docker", "start", name)
	stopped.Keys["timeout"], start.Keys["timeout"] = "10s", "20s"
	path := scenarioFile(t, restore{
		Name: "container-restore-from-backup", Addr: addr, Target: keys{"pid": pidn},
		Data: data, BackupFile: backup, Backup: []string{"cp", data, backup}, Marker: "ctr-" + suffix,
		Stopped: stopped, Start: start, Within: "20s", RTO: "15s", Wait: "10s",
	}.scenario())
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
