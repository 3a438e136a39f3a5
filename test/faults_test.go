package test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// TestDaemonRetriesFailedRevert: a revert fails while the daemon runs (the
// liar plugin's flaky action, blocked by a file). The daemon lists it as
// unreverted, counts it in chaosctl_faults_unreverted, keeps active_faults
// at 1, and once the blocker is gone its own retry loop reverts it, with
// no restart and no operator.
func TestDaemonRetriesFailedRevert(t *testing.T) {
	tg := startTarget(t, false)
	d := newDaemonDir(t)
	pdir, sums := liarDir(t)
	cfg, err := os.ReadFile(filepath.Join(d.dir, "chaosctl.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(fmt.Sprintf("plugin_dir = %q\nplugin_checksums = %q\n", pdir, sums) + string(cfg))
	if err := os.WriteFile(filepath.Join(d.dir, "chaosctl.toml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "marker")
	if err := os.WriteFile(marker+".block", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := verdictScenario(tg.addr, "3s", "300ms", liarFault("flaky", "flaky", marker))
	s.Name = "flaky-revert"
	path := scenarioFile(t, s)
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(filepath.Join(d.scenarios, "flaky.toml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	d.start(t)
	id := d.startRun(t, "flaky-revert")
	var j *journal.Journal
	eventually(t, "the run ends", 30*time.Second, func() bool { j = d.run(t, id); return j.Verdict != journal.Running })
	if j.Verdict != journal.Error || !strings.Contains(j.Faults[0].RevertError, "block exists") {
		t.Fatalf("verdict %s, fault %+v: want error with the failed revert", j.Verdict, j.Faults[0])
	}
	var list struct {
		Faults []struct {
			RunID string `json:"run_id"`
			State string `json:"state"`
		} `json:"faults"`
	}
	if code := d.get(t, "/v1/faults", &list); code != http.StatusOK || len(list.Faults) != 1 || list.Faults[0].RunID != id || list.Faults[0].State != "revert-failed" {
		t.Fatalf("GET /v1/faults: %d %+v", code, list)
	}
	if m := metrics(t, d); !strings.Contains(m, "chaosctl_faults_unreverted 1") || !strings.Contains(m, "chaosctl_active_faults 1") {
		t.Fatalf("metrics do not count the unreverted fault:\n%s", grepLines(m, "faults"))
	}
	out := chaosctlEnv(t, []string{"CHAOSCTL_SOCKET=" + d.socket}, "faults")
	if out.code != 0 || !strings.Contains(out.stdout, id) || !strings.Contains(out.stdout, "revert-failed") {
		t.Fatalf("chaosctl faults: exit %d\n%s\n%s", out.code, out.stdout, out.stderr)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the marker is gone (%v): the revert did not fail, the test proves nothing", err)
	}

	if err := os.Remove(marker + ".block"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the daemon's retry loop reverts the fault", 40*time.Second, func() bool {
		_, err := os.Stat(marker)
		return os.IsNotExist(err)
	})
	eventually(t, "the fault leaves the unreverted list", 5*time.Second, func() bool {
		return d.get(t, "/v1/faults", &list) == http.StatusOK && len(list.Faults) == 0
	})
	if m := metrics(t, d); !strings.Contains(m, "chaosctl_faults_unreverted 0") || !strings.Contains(m, "chaosctl_active_faults 0") {
		t.Errorf("unreverted gauge after the retry:\n%s", grepLines(m, "faults"))
	}
	if j = d.run(t, id); !strings.Contains(strings.Join(j.Reasons, "\n"), "the daemon's retry reverted 1 fault") {
		t.Errorf("the run's journal does not say the retry reverted it: %q", j.Reasons)
	}
}

func metrics(t *testing.T, d *daemonProc) string {
	t.Helper()
	resp, err := d.hc.Get("http://chaosctl/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
