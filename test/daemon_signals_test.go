package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// What signals do to chaosctl, sent for real to a real process:
// SIGHUP reloads a daemon (config and scenarios) and never stops it;
// SIGTERM and SIGINT stop it with exit 0; SIGHUP ends a local run (its
// terminal went away) after reverting its faults.

// idleScenario is a scenario the tests only load, never run.
func idleScenario(name string) []byte {
	return []byte(aliveScenario(name, fault{Name: "freeze", Plugin: "process", Action: "pause", Keys: keys{"duration": "1s"}, Target: keys{"pidfile": "/nonexistent/" + name + ".pid"}}).toml())
}

// writeDaemonConfig rewrites d's config file with dirs and extra TOML
// appended to its [api] table.
func writeDaemonConfig(t *testing.T, d *daemonProc, dirs []string, api string) {
	t.Helper()
	q := make([]string, len(dirs))
	for i, dir := range dirs {
		q[i] = fmt.Sprintf("%q", dir)
	}
	cfg := fmt.Sprintf("scenario_dirs = [%s]\nstore = %q\n[api]\nsocket = %q\n%s\n[defaults]\nstore_lock_timeout = \"500ms\"\nrevert_timeout = \"5s\"\n",
		strings.Join(q, ", "), d.store, d.socket, api)
	if err := os.WriteFile(filepath.Join(d.dir, "chaosctl.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (d *daemonProc) scenarioNames(t *testing.T) string {
	t.Helper()
	var l struct {
		Scenarios []struct{ Name string } `json:"scenarios"`
	}
	if code := d.get(t, "/v1/scenarios", &l); code != 200 {
		return fmt.Sprintf("(status %d)", code)
	}
	var n []string
	for _, s := range l.Scenarios {
		n = append(n, s.Name)
	}
	slices.Sort(n)
	return strings.Join(n, ",")
}

func (d *daemonProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("send %s: %v", sig, err)
	}
}

// alive fails the test if the daemon exited.
func (d *daemonProc) alive(t *testing.T, after string) {
	t.Helper()
	select {
	case <-d.done:
		t.Fatalf("daemon exited after %s: %v\n%s", after, d.cmd.ProcessState, d.log)
	default:
	}
}

// TestDaemonSignalHUPReloadsAndKeepsServing: each SIGHUP rereads the config
// file and the scenario directories (here, directories that did not exist
// at start, so no file watch can have loaded them); the daemon keeps
// running and serving; a key that needs a restart is named in the log.
func TestDaemonSignalHUPReloadsAndKeepsServing(t *testing.T) {
	d := newDaemonDir(t)
	if err := os.WriteFile(filepath.Join(d.scenarios, "a.toml"), idleScenario("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.start(t)
	if n := d.scenarioNames(t); n != "a" {
		t.Fatalf("at start: %q", n)
	}

	later := []string{filepath.Join(d.dir, "later1"), filepath.Join(d.dir, "later2")}
	for i, dir := range later {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("b%d", i+1)
		if err := os.WriteFile(filepath.Join(dir, name+".toml"), idleScenario(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// First SIGHUP: one more directory.
	writeDaemonConfig(t, d, []string{d.scenarios, later[0]}, "")
	d.signal(t, syscall.SIGHUP)
	eventually(t, "b1 to be loaded after SIGHUP", 10*time.Second, func() bool { d.alive(t, "SIGHUP"); return d.scenarioNames(t) == "a,b1" })
	d.alive(t, "the first SIGHUP")

	// Second SIGHUP: the first directory dropped, the second added, and a
	// key only a restart applies.
	writeDaemonConfig(t, d, later, "socket_mode = \"0600\"")
	d.signal(t, syscall.SIGHUP)
	eventually(t, "the second SIGHUP's directories", 10*time.Second, func() bool { d.alive(t, "SIGHUP"); return d.scenarioNames(t) == "b1,b2" })
	d.alive(t, "the second SIGHUP")
	if st, err := os.Stat(d.socket); err != nil || st.Mode().Perm() != 0o660 {
		t.Errorf("socket after a reload: %v %v, want the mode it started with (0660)", st, err)
	}
	var st map[string]any
	if code := d.get(t, "/v1/status", &st); code != 200 {
		t.Fatalf("status after two SIGHUPs: %d", code)
	}

	d.signal(t, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not exit on SIGTERM")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0", code)
	}
	log := d.log.String() // the process is gone: nobody writes it now
	if n := strings.Count(log, `"message":"config reloaded"`); n != 2 {
		t.Errorf("%d config reloads logged, want 2", n)
	}
	if !strings.Contains(log, `"need_restart":["api.socket_mode"]`) {
		t.Errorf("the restart-only change is not named in the log")
	}
	if strings.Count(log, "shutting down") != 1 {
		t.Errorf("want exactly one shutdown, at SIGTERM:\n%s", log)
	}
}

// TestDaemonSignalStopExits0: SIGTERM and SIGINT stop an idle daemon with
// exit 0 and remove its socket.
func TestDaemonSignalStopExits0(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			d := newDaemonDir(t)
			d.start(t)
			d.signal(t, sig)
			select {
			case <-d.done:
			case <-time.After(20 * time.Second):
				t.Fatalf("daemon did not exit on %s", sig)
			}
			if code := d.cmd.ProcessState.ExitCode(); code != 0 {
				t.Fatalf("exit %d, want 0\n%s", code, d.log)
			}
			if _, err := os.Stat(d.socket); !os.IsNotExist(err) {
				t.Errorf("socket left behind: %v", err)
			}
		})
	}
}

// TestSignalHUPAbortsLocalRun: a local run whose terminal goes away
// (SIGHUP) reverts its fault and ends aborted.
func TestSignalHUPAbortsLocalRun(t *testing.T) {
	tg := startTarget(t, false)
	path := scenarioFile(t, processScenario(tg, "pause", "30s"))
	jpath := filepath.Join(t.TempDir(), "j.json")
	cmd := exec.Command(bins.chaosctl, "run", "--local", path, "--journal", jpath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	pid := tg.pid(t)
	eventually(t, "the target to be paused", 10*time.Second, func() bool { return procState(pid) == "T" })
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
		done <- err // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatal("run did not end on SIGHUP")
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 {
		t.Fatalf("exit %v, want 4 (aborted)", err)
	}
	if s := procState(pid); s == "T" || s == "" {
		t.Fatalf("target state %q after SIGHUP: not reverted", s)
	}
	j, err := journal.Read(jpath)
	if err != nil {
		t.Fatal(err)
	}
	if j.Verdict != journal.Aborted || j.Faults[0].RevertedAt == nil {
		t.Fatalf("verdict %s, fault %+v", j.Verdict, j.Faults[0])
	}
}
