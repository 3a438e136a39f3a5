package test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/chaosctl/chaosctl/journal"
)

// slowStopTarget is a container that ignores SIGTERM and a scenario that
// stops it. A docker stop of it takes its whole timeout: the Inject is
// slow, and a revert that ran beside it (the old bug) would start the
// container before the stop finished, leaving it stopped while the ledger
// said reverted.
func slowStopTarget(t *testing.T) (cli *client.Client, id, path string) {
	cli, img := needEngine(t)
	n := makeNetwork(t, cli)
	name := "chaosctl-test-slowstop-" + uid()
	id = runContainer(t, cli, img, n, name, ctrOpts{IP: n.IP(10), Args: []string{"-ignore-term"}})
	path = scenarioFile(t, dockerScenario("slow-stop", n.IP(10), 90, "10s", "500ms",
		fault{Name: "stop-api", Plugin: "docker", Action: "stop", Keys: keys{"duration": "30s"}, Params: keys{"timeout": "3s"}, Target: keys{"name": name}}))
	return cli, id, path
}

// TestCancelDuringSlowInjectRevertsAfterIt: Ctrl-C while the stop is in
// progress. The stop runs to its end, then the revert starts the
// container again: it is running afterwards, and stays so.
func TestCancelDuringSlowInjectRevertsAfterIt(t *testing.T) {
	cli, id, path := slowStopTarget(t)
	b := startRun(t, path)
	b.waitLog(t, `"phase":"inject"`, 20*time.Second)
	time.Sleep(500 * time.Millisecond) // the stop is waiting out its 3s timeout
	if err := b.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code, j := b.wait(t, 60*time.Second)
	if code != 4 || j.Verdict != journal.Aborted {
		t.Fatalf("exit %d verdict %s %v, want 4 (aborted)\n%s", code, j.Verdict, j.Reasons, b.log())
	}
	f := j.Faults[0]
	if f.InjectedAt == nil || f.RevertedAt == nil || f.RevertError != "" {
		t.Fatalf("fault %+v: want injected (the stop ran to its end), then reverted", f)
	}
	if f.InjectedAt.Sub(f.IntentAt) < 2*time.Second {
		t.Errorf("Inject took %v: it was cut short by the cancel", f.InjectedAt.Sub(f.IntentAt))
	}
	time.Sleep(time.Second) // anything still stopping it would show by now
	if in := inspect(t, cli, id); !in.State.Running {
		t.Fatalf("container %s after the run: the revert raced the stop and lost", in.State.Status)
	}
}

// TestKillDuringInjectIsRecovered: chaosctl is killed with -9 in the middle
// of the stop, its run started with --journal in a directory of its own.
// The Engine finishes the stop; `chaosctl recover` finds the ledger through
// the state dir's index, starts the container from the revert data that
// was prepared before Inject, and writes the journal where it was asked.
func TestKillDuringInjectIsRecovered(t *testing.T) {
	cli, id, path := slowStopTarget(t)
	state := t.TempDir()
	env := []string{"CHAOSCTL_STATE_DIR=" + state}
	jpath := filepath.Join(t.TempDir(), "elsewhere", "x.json")
	b := startRunIn(t, jpath, env, path)
	b.waitLog(t, `"phase":"inject"`, 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-b.done
	eventually(t, "the Engine to finish the stop", 10*time.Second, func() bool { return !inspect(t, cli, id).State.Running })

	r := chaosctlEnv(t, env, "recover", "--journal-dir", t.TempDir())
	if r.code != 0 || !strings.Contains(r.stdout, "1 reverted") {
		t.Fatalf("recover: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if in := inspect(t, cli, id); !in.State.Running {
		t.Fatalf("container %s after recover: want running", in.State.Status)
	}
	j, err := journal.Read(jpath)
	if err != nil {
		t.Fatalf("the recovered journal is not where the run was told to write it: %v", err)
	}
	if j.Verdict != journal.Interrupted || len(j.Faults) != 1 || j.Faults[0].RevertedAt == nil {
		t.Fatalf("journal %s: verdict %s faults %+v", jpath, j.Verdict, j.Faults)
	}
	if left, _ := filepath.Glob(filepath.Join(state, "ledgers", "*")); len(left) != 0 {
		t.Errorf("index entries left after a full recovery: %v", left)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(jpath), "*.ledger")); len(left) != 0 {
		t.Errorf("ledgers left after a full recovery: %v", left)
	}
	_ = os.Remove(jpath)
	_ = context.Background()
}
