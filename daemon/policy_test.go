package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins/builtin"
	"github.com/chaosctl/chaosctl/scenarios"
)

// twoTargets is a scenario whose faults hit two processes; it allows that.
func twoTargets(name string, a, b int) []byte {
	return fmt.Appendf(nil, `version = 1
name = %q
[steady]
duration = "100ms"
[[probe]]
name = "ok"
kind = "host"
metric = "memory"
max = 100.0
interval = "50ms"
[[slo]]
name = "ok"
probe = "ok"
availability = 100.0
window = "100ms"
[[fault]]
name = "a"
plugin = "process"
action = "pause"
duration = "200ms"
target.pid = %d
[[fault]]
name = "b"
plugin = "process"
action = "pause"
duration = "200ms"
target.pid = %d
[recovery]
recover_within = "5s"
hold_for = "100ms"
[safety]
max_targets = 2
`, name, a, b)
}

// TestPolicyMaxTargetsCapsEveryRun: the daemon's max_targets wins over a
// scenario's higher one, and nothing is injected.
func TestPolicyMaxTargetsCapsEveryRun(t *testing.T) {
	v1, v2 := startVictim(t), startVictim(t)
	for _, tc := range []struct {
		name    string
		policy  int
		verdict journal.Verdict
		reason  string
	}{
		{"no cap", 0, journal.Passed, ""},
		{"cap above the scenario's", 3, journal.Passed, ""},
		{"cap below the scenario's", 1, journal.Error, "more than max_targets = 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Policy.MaxTargets = tc.policy
			writeScen(t, cfg, "two.toml", twoTargets("two", v1.pid, v2.pid))
			td := start(t, cfg)
			res, err := td.c.Start(context.Background(), api.StartRequest{Scenario: "two"})
			if err != nil {
				t.Fatal(err)
			}
			j, _ := td.wait(t, res.RunID)
			reasons := strings.Join(j.Reasons, "; ")
			if j.Verdict != tc.verdict || !strings.Contains(reasons, tc.reason) {
				t.Fatalf("verdict %s %q, want %s with %q", j.Verdict, reasons, tc.verdict, tc.reason)
			}
			capped := strings.Contains(reasons, "policy: max_targets = 1 (the daemon's [policy]) caps the scenario's max_targets = 2")
			if capped != (tc.policy == 1) {
				t.Errorf("reasons %q: policy note present %v, want %v", reasons, capped, tc.policy == 1)
			}
			if tc.verdict == journal.Error {
				for _, f := range j.Faults {
					if f.InjectedAt != nil || !f.IntentAt.IsZero() {
						t.Errorf("fault %s was attempted: %+v", f.ID, f)
					}
				}
			}
		})
	}
	// The loaded scenario itself is not changed by a capped run.
	cfg := testConfig(t)
	cfg.Policy.MaxTargets = 1
	writeScen(t, cfg, "two.toml", twoTargets("two", v1.pid, v2.pid))
	td := start(t, cfg)
	if sc, err := td.d.Scenario("two"); err != nil || sc.Safety.MaxTargets != 2 {
		t.Fatalf("loaded scenario after start: %+v %v", sc, err)
	}
}

// TestPolicyAllowCommands: with allow_commands = false an uploaded
// scenario that runs commands gets 403 naming each command; the same
// scenario from the scenario directory runs, and an upload without
// commands is accepted.
func TestPolicyAllowCommands(t *testing.T) {
	v := startVictim(t)
	cfg := testConfig(t)
	cfg.Policy.AllowCommands = false
	noCmd := string(render(t, scen{Name: "cmd", Duration: "100ms", PID: v.pid}))
	withCmd := []byte(strings.Replace(noCmd, "kind = \"host\"\nmetric = \"memory\"\nmax = 100.0", "kind = \"cmd\"\ncommand = [\"true\"]", 1))
	if string(withCmd) == noCmd {
		t.Fatal("test scenario did not change")
	}
	writeScen(t, cfg, "cmd.toml", withCmd)
	td := start(t, cfg)
	ctx := context.Background()

	_, err := td.c.Start(ctx, api.StartRequest{File: "up.toml", Content: string(withCmd)})
	var ae *api.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || !errors.Is(err, api.ErrCommandsForbidden) {
		t.Fatalf("upload with a cmd probe: %v, want 403 ErrCommandsForbidden", err)
	}
	if want := "up.toml runs commands: uploaded scenarios may not run commands here (policy.allow_commands = false); only scenarios in the daemon's scenario directories may"; ae.ErrorResponse.Error != want {
		t.Errorf("error %q, want %q", ae.ErrorResponse.Error, want)
	}
	if want := []string{`up.toml:7:1: probe[0].kind: probe "ok" runs a command (kind cmd)`}; !slices.Equal(ae.Errors, want) {
		t.Errorf("errors %q, want %q", ae.Errors, want)
	}
	// From the scenario directory, commands run.
	res, err := td.c.Start(ctx, api.StartRequest{Scenario: "cmd"})
	if err != nil {
		t.Fatal(err)
	}
	if j, _ := td.wait(t, res.RunID); j.Verdict != journal.Passed {
		t.Fatalf("scenario from the directory: %s %v", j.Verdict, j.Reasons)
	}
	// An upload without commands is accepted.
	res, err = td.c.Start(ctx, api.StartRequest{File: "nocmd.toml", Content: noCmd, DryRun: true})
	if err != nil {
		t.Fatalf("upload without commands: %v", err)
	}
	td.wait(t, res.RunID)
	// Reloaded, the policy applies at once.
	td.d.mu.Lock()
	td.d.cur.Policy.AllowCommands = true
	td.d.mu.Unlock()
	if res, err = td.c.Start(ctx, api.StartRequest{File: "up.toml", Content: string(withCmd), DryRun: true}); err != nil {
		t.Fatalf("upload once commands are allowed: %v", err)
	}
	td.wait(t, res.RunID)
}

// TestCommandUses lists every part of a scenario that runs a command.
func TestCommandUses(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"testdata/scenario-no-commands.toml", nil},
		{"testdata/scenario-commands.toml", []string{
			`testdata/scenario-commands.toml:12:1: probe[1].kind: probe "script" runs a command (kind cmd)`,
			`testdata/scenario-commands.toml:31:1: runbook.before[0].kind: runbook step "backup" runs a command (kind command)`,
			`testdata/scenario-commands.toml:41:1: runbook.step[1].kind: runbook step "restart" runs a command (kind command)`,
			`testdata/scenario-commands.toml:46:1: runbook.data_check.kind: runbook data check "marker" runs a command (kind command)`,
		}},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			sc, err := scenarios.Load(context.Background(), tc.file, builtin.InProcess{})
			if err != nil {
				t.Fatal(err)
			}
			if got := commandUses(sc); !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestUnsafeScenarioDirIsRefused: a scenario directory or file others may
// write is not loaded, with an error naming it; the other directories load.
func TestUnsafeScenarioDirIsRefused(t *testing.T) {
	v := startVictim(t)
	cfg := testConfig(t)
	open := filepath.Join(filepath.Dir(cfg.ScenarioDirs[0]), "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(open, "o.toml"), render(t, scen{Name: "o", Duration: "1s", PID: v.pid}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	cfg.ScenarioDirs = append(cfg.ScenarioDirs, open)
	writeScen(t, cfg, "ok.toml", render(t, scen{Name: "ok", Duration: "1s", PID: v.pid}))
	writeScen(t, cfg, "theirs.toml", render(t, scen{Name: "theirs", Duration: "1s", PID: v.pid}))
	theirs := filepath.Join(cfg.ScenarioDirs[0], "theirs.toml")
	if err := os.Chmod(theirs, 0o666); err != nil {
		t.Fatal(err)
	}
	td := start(t, cfg)
	l, err := td.c.Scenarios(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Scenarios) != 1 || l.Scenarios[0].Name != "ok" {
		t.Errorf("loaded %+v, want only ok", l.Scenarios)
	}
	want := []api.LoadError{
		{File: theirs, Errors: []string{"scenario directory or file writable by others: refusing to load scenario file " + theirs + ": " + theirs + " is writable by its group or others (mode -rw-rw-rw-): chmod go-w it"}},
		{File: open, Errors: []string{"scenario directory or file writable by others: refusing to load scenario directory " + open + ": " + open + " is writable by its group or others (mode -rwxrwxrwx): chmod go-w it"}},
	}
	if fmt.Sprint(l.Errors) != fmt.Sprint(want) {
		t.Errorf("errors\n%v\nwant\n%v", l.Errors, want)
	}
}

// TestRunIDCollision: a run id already in the store or in progress is
// never reused; when no fresh id comes, the start is refused.
func TestRunIDCollision(t *testing.T) {
	v := startVictim(t)
	cfg := testConfig(t)
	writeScen(t, cfg, "s.toml", render(t, scen{Name: "s", Duration: "0s", PID: v.pid, Concurrency: "allow"}))
	td := start(t, cfg)
	ctx := context.Background()
	ids := func(list ...string) {
		td.d.mu.Lock()
		td.d.runID = func() string {
			id := list[0]
			if len(list) > 1 {
				list = list[1:]
			}
			return id
		}
		td.d.mu.Unlock()
	}
	ids("run-a")
	first, err := td.c.Start(ctx, api.StartRequest{Scenario: "s"})
	if err != nil || first.RunID != "run-a" {
		t.Fatalf("first run %+v %v", first, err)
	}
	td.wait(t, first.RunID)
	ids("run-a", "run-b")
	second, err := td.c.Start(ctx, api.StartRequest{Scenario: "s"})
	if err != nil || second.RunID != "run-b" {
		t.Fatalf("second run %+v %v, want run-b", second, err)
	}
	td.wait(t, second.RunID)
	ids("run-a")
	if _, err := td.c.Start(ctx, api.StartRequest{Scenario: "s"}); !errors.Is(err, api.ErrRunIDCollision) || apiStatus(err) != http.StatusInternalServerError {
		t.Fatalf("only taken ids: %v, want ErrRunIDCollision", err)
	}
	// The first run's journal is intact.
	if j, err := td.c.Run(ctx, "run-a"); err != nil || j.Verdict != journal.Passed || j.RunID != "run-a" {
		t.Fatalf("run-a after the collisions: %+v %v", j, err)
	}
	if h, _ := td.c.History(ctx, 0, ""); len(h) != 2 {
		t.Errorf("history %+v, want 2 runs", h)
	}
}
