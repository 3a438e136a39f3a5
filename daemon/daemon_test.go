package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/daemon/store"
	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/plugins/builtin"
)

// The daemon is tested as a user meets it: a real instance listening on a
// real unix socket (and TCP), real HTTP requests, the real process fault
// pausing a real child process.

// victim is a child process faults are injected into.
type victim struct {
	cmd *exec.Cmd
	pid int
}

func startVictim(t *testing.T) *victim {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return &victim{cmd: cmd, pid: cmd.Process.Pid}
}

// stopped reports whether the process is in state T (SIGSTOPped).
func stopped(t *testing.T, pid int) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return fields[0] == "T"
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

// scenarioTpl is the scenario the daemon's tests run. Its probe reads
// /proc/meminfo in the daemon's own process: it cannot fail, and no fork
// of a command slows it on a busy machine, where a run that should pass
// would otherwise have gaps in its samples and end inconclusive. The runs
// still take real time: the daemon serves a real socket and faults real
// processes, which a testing/synctest bubble cannot hold.
const scenarioTpl = `version = 1
name = "{{.Name}}"
{{- if .Schedule}}
schedule = "{{.Schedule}}"
{{- end}}
{{- if .Window}}
window = "{{.Window}}"
{{- end}}
{{- if .Concurrency}}
concurrency = "{{.Concurrency}}"
{{- end}}
[steady]
duration = "{{or .Steady "100ms"}}"
[[probe]]
name = "ok"
kind = "host"
metric = "memory"
max = 100.0
interval = "50ms"
timeout = "1s"
[[slo]]
name = "ok"
probe = "ok"
availability = 100.0
window = "100ms"
[[fault]]
name = "freeze"
plugin = "process"
action = "pause"
duration = "{{.Duration}}"
[fault.target]
pid = {{.PID}}
[recovery]
recover_within = "5s"
hold_for = "100ms"
`

type scen struct {
	Name, Schedule, Window, Concurrency, Steady, Duration string
	PID                                                   int
}

func render(t *testing.T, s scen) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := template.Must(template.New("s").Parse(scenarioTpl)).Execute(&b, s); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type testDaemon struct {
	d      *Daemon
	cfg    Config
	dir    string
	c      *api.Client
	hc     *http.Client // raw requests through the unix socket
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

type syncBuffer struct {
	mu chanMutex
	b  bytes.Buffer
}

type chanMutex chan struct{}

func (m chanMutex) Lock()   { m <- struct{}{} }
func (m chanMutex) Unlock() { <-m }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testConfig(t *testing.T) Config {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.ScenarioDirs = []string{filepath.Join(dir, "scenarios")}
	cfg.Store = filepath.Join(dir, "chaosctl.db")
	cfg.API.Socket = filepath.Join(dir, "chaosctl.sock")
	cfg.Defaults.StoreLockTimeout = Duration{Duration: 300 * time.Millisecond}
	cfg.Defaults.RevertTimeout = Duration{Duration: 5 * time.Second}
	if err := os.MkdirAll(cfg.ScenarioDirs[0], 0o755); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func writeScen(t *testing.T, cfg Config, file string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(cfg.ScenarioDirs[0], file), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// start runs a daemon with cfg until the test ends (or stop is called).
func start(t *testing.T, cfg Config) *testDaemon {
	t.Helper()
	logs := &syncBuffer{mu: make(chanMutex, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := New(ctx, cfg, Options{Log: zerolog.New(logs), Catalog: builtin.InProcess{}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	td := &testDaemon{d: d, cfg: cfg, cancel: cancel, done: make(chan error, 1), logs: logs}
	ready := make(chan struct{})
	go func() { td.done <- d.Serve(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-td.done:
		t.Fatalf("daemon did not start: %v", err)
	}
	td.c, err = api.NewClient(api.ClientOptions{Socket: cfg.API.Socket})
	if err != nil {
		t.Fatal(err)
	}
	td.hc = unixHTTP(cfg.API.Socket)
	t.Cleanup(func() {
		td.stop(t)
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs)
		}
	})
	return td
}

func (td *testDaemon) stop(t *testing.T) {
	t.Helper()
	if td.cancel == nil {
		return
	}
	td.cancel()
	td.cancel = nil
	select {
	case err := <-td.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop")
	}
}

// wait streams a run's events to its verdict and returns the stored journal.
func (td *testDaemon) wait(t *testing.T, id string) (*journal.Journal, []experiments.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var evs []experiments.Event
	if err := td.c.Events(ctx, id, func(ev experiments.Event) { evs = append(evs, ev) }); err != nil {
		t.Fatalf("events: %v", err)
	}
	var j *journal.Journal
	waitFor(t, "the run to be stored", 5*time.Second, func() bool {
		var err error
		j, err = td.c.Run(ctx, id)
		return err == nil && j.Verdict != journal.Running
	})
	return j, evs
}

func apiStatus(err error) int {
	var ae *api.APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

func TestRunByNameStreamsAndStores(t *testing.T) {
	v := startVictim(t)
	cfg := testConfig(t)
	writeScen(t, cfg, "freeze.toml", render(t, scen{Name: "freeze", Duration: "300ms", PID: v.pid}))
	td := start(t, cfg)
	ctx := context.Background()

	res, err := td.c.Start(ctx, api.StartRequest{Scenario: "freeze"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the victim to be paused", 5*time.Second, func() bool { return stopped(t, v.pid) })
	j, evs := td.wait(t, res.RunID)
	if j.Verdict != journal.Passed {
		t.Fatalf("verdict %s %v", j.Verdict, j.Reasons)
	}
	if stopped(t, v.pid) {
		t.Fatal("victim still stopped after the run")
	}
	if j.Labels["trigger"] != "api" || len(j.Faults) != 1 || j.Faults[0].RevertedAt == nil || len(j.Samples) == 0 {
		t.Errorf("journal: labels %v faults %+v samples %d", j.Labels, j.Faults, len(j.Samples))
	}
	kinds := map[experiments.EventKind]int{}
	for _, ev := range evs {
		kinds[ev.Kind]++
	}
	if kinds[experiments.EventPhase] < 4 || kinds[experiments.EventFault] < 2 || kinds[experiments.EventVerdict] != 1 {
		t.Errorf("events streamed: %v", kinds)
	}
	h, err := td.c.History(ctx, 10, "")
	if err != nil || len(h) != 1 || h[0].RunID != res.RunID || h[0].Verdict != journal.Passed {
		t.Errorf("history %+v %v", h, err)
	}
	// The stream of a finished run is its verdict.
	_, evs = td.wait(t, res.RunID)
	if len(evs) != 1 || evs[0].Verdict != journal.Passed {
		t.Errorf("finished run's stream: %+v", evs)
	}
	// The ledger is compacted once the journal holds the story.
	if p, _ := td.d.store.Pending(); len(p) != 0 {
		t.Errorf("ledger still holds %+v", p)
	}
}

func TestBadRequests(t *testing.T) {
	cfg := testConfig(t)
	writeScen(t, cfg, "broken.toml", []byte("version = 1\nname = \"broken\"\nschedule = \"every day\"\n"))
	v := startVictim(t)
	writeScen(t, cfg, "good.toml", render(t, scen{Name: "good", Duration: "1s", PID: v.pid}))
	td := start(t, cfg)
	ctx := context.Background()

	list, err := td.c.Scenarios(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Scenarios) != 1 || list.Scenarios[0].Name != "good" {
		t.Errorf("scenarios %+v", list.Scenarios)
	}
	if len(list.Errors) != 1 || !strings.Contains(strings.Join(list.Errors[0].Errors, "\n"), "broken.toml:3:1: schedule: \"every day\" is not a cron schedule") {
		t.Errorf("load errors %+v", list.Errors)
	}

	raw := func(method, path, body string) (int, api.ErrorResponse) {
		req, _ := http.NewRequest(method, "http://chaosctl"+path, strings.NewReader(body))
		resp, err := td.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var er api.ErrorResponse
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &er)
		return resp.StatusCode, er
	}
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"unknown scenario", "POST", "/v1/runs", `{"scenario":"nope"}`, 404, `unknown scenario "nope"`},
		{"unknown run", "GET", "/v1/runs/20250101T000000Z-abcdef", "", 404, `unknown run "20250101T000000Z-abcdef"`},
		{"unknown run events", "GET", "/v1/runs/nope/events", "", 404, `unknown run "nope"`},
		{"abort unknown run", "POST", "/v1/runs/nope/abort", "", 404, `unknown run "nope"`},
		{"not json", "POST", "/v1/runs", `{"scenario":`, 400, "malformed body: unexpected EOF"},
		{"unknown field", "POST", "/v1/runs", `{"scenarios":"good"}`, 400, `malformed body: json: unknown field "scenarios"`},
		{"empty", "POST", "/v1/runs", `{}`, 400, `malformed body: want {"scenario": NAME} or {"file": NAME, "content": TOML}`},
		{"both", "POST", "/v1/runs", `{"scenario":"good","content":"x"}`, 400, "malformed body: give scenario or content, not both"},
		{"two values", "POST", "/v1/runs", `{"scenario":"good"}{}`, 400, "malformed body: more than one JSON value"},
		{"invalid scenario content", "POST", "/v1/runs", `{"file":"x.toml","content":"version = 2\nname = \"x\"\n"}`, 400, "x.toml is invalid"},
		{"no endpoint", "GET", "/v2/nothing", "", 404, "no such endpoint: GET /v2/nothing"},
		{"bad limit", "GET", "/v1/runs?limit=-1", "", 400, `limit: want a number >= 0 (0: all), got "-1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, er := raw(tc.method, tc.path, tc.body)
			if code != tc.code || !strings.HasPrefix(er.Error, tc.msg) {
				t.Errorf("%d %q, want %d %q", code, er.Error, tc.code, tc.msg)
			}
		})
	}
	// Invalid content reports every error with its position.
	_, err = td.c.Start(ctx, api.StartRequest{File: "x.toml", Content: "version = 2\nname = \"x\"\nbogus = 1\n"})
	var ae *api.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(strings.Join(ae.Errors, "\n"), "x.toml:3:1: bogus: unknown key") {
		t.Errorf("invalid content: %#v", err)
	}
	// Nothing of this started a run.
	if h, _ := td.c.History(ctx, 0, ""); len(h) != 0 {
		t.Errorf("bad requests started runs: %+v", h)
	}
}

func TestHaltAbortsAndRefuses(t *testing.T) {
	v := startVictim(t)
	cfg := testConfig(t)
	writeScen(t, cfg, "long.toml", render(t, scen{Name: "long", Duration: "1m", PID: v.pid}))
	td := start(t, cfg)
	ctx := context.Background()
	res, err := td.c.Start(ctx, api.StartRequest{Scenario: "long"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the victim to be paused", 5*time.Second, func() bool { return stopped(t, v.pid) })
	h, err := td.c.Halt(ctx)
	if err != nil || len(h.Aborted) != 1 || h.Aborted[0] != res.RunID {
		t.Fatalf("halt %+v %v", h, err)
	}
	j, _ := td.wait(t, res.RunID)
	if j.Verdict != journal.Aborted || !strings.Contains(strings.Join(j.Reasons, ";"), "halted") {
		t.Errorf("verdict %s %v", j.Verdict, j.Reasons)
	}
	if stopped(t, v.pid) {
		t.Fatal("victim still stopped after halt")
	}
	if _, err := td.c.Start(ctx, api.StartRequest{Scenario: "long"}); apiStatus(err) != http.StatusConflict || !errors.Is(err, api.ErrHalted) {
		t.Fatalf("start while halted: %v", err)
	}
	// The switch survives a restart.
	td.stop(t)
	td = start(t, cfg)
	if st, err := td.c.Status(ctx); err != nil || !st.Halted {
		t.Fatalf("after restart: %+v %v", st, err)
	}
	if err := td.c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	res, err = td.c.Start(ctx, api.StartRequest{Scenario: "long"})
	if err != nil {
		t.Fatalf("start after resume: %v", err)
	}
	waitFor(t, "the victim to be paused", 5*time.Second, func() bool { return stopped(t, v.pid) })
	if err := td.c.Abort(ctx, res.RunID); err != nil {
		t.Fatal(err)
	}
	if j, _ := td.wait(t, res.RunID); j.Verdict != journal.Aborted || stopped(t, v.pid) {
		t.Fatalf("abort: verdict %s, stopped %v", j.Verdict, stopped(t, v.pid))
	}
	if err := td.c.Abort(ctx, res.RunID); apiStatus(err) != http.StatusConflict {
		t.Errorf("abort of a finished run: %v", err)
	}
}

func TestTargetLockAndConcurrency(t *testing.T) {
	v := startVictim(t)
	cfg := testConfig(t)
	writeScen(t, cfg, "a.toml", render(t, scen{Name: "a", Duration: "1m", PID: v.pid}))
	writeScen(t, cfg, "b.toml", render(t, scen{Name: "b", Duration: "1m", PID: v.pid, Concurrency: "allow"}))
	v2 := startVictim(t)
	writeScen(t, cfg, "c.toml", render(t, scen{Name: "c", Duration: "1m", PID: v2.pid, Concurrency: "replace"}))
	cfg.Defaults.MaxConcurrentRuns = 2
	td := start(t, cfg)
	ctx := context.Background()

	first, err := td.c.Start(ctx, api.StartRequest{Scenario: "a"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the victim to be paused", 5*time.Second, func() bool { return stopped(t, v.pid) })
	// forbid: a second run of a is refused.
	if _, err := td.c.Start(ctx, api.StartRequest{Scenario: "a"}); apiStatus(err) != http.StatusConflict {
		t.Fatalf("second run of a forbid scenario: %v", err)
	}
	// Another scenario on the same target fails before injecting anything.
	second, err := td.c.Start(ctx, api.StartRequest{Scenario: "b"})
	if err != nil {
		t.Fatal(err)
	}
	j, _ := td.wait(t, second.RunID)
	if j.Verdict != journal.Error || !strings.Contains(strings.Join(j.Reasons, ";"), "target is in use by another run: process:sleep("+strconv.Itoa(v.pid)+") (run "+first.RunID+")") {
		t.Fatalf("second run on the same target: %s %v", j.Verdict, j.Reasons)
	}
	if j.Faults[0].IntentAt != (time.Time{}) {
		t.Errorf("the busy run recorded an intent: %+v", j.Faults[0])
	}
	// Global maximum: a and one c fill both slots.
	cRun, err := td.c.Start(ctx, api.StartRequest{Scenario: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := td.c.Start(ctx, api.StartRequest{Scenario: "b"}); apiStatus(err) != http.StatusTooManyRequests {
		t.Fatalf("third concurrent run: %v", err)
	}
	// replace: a new c aborts the old c.
	cRun2, err := td.c.Start(ctx, api.StartRequest{Scenario: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if j, _ := td.wait(t, cRun.RunID); j.Verdict != journal.Aborted || !strings.Contains(strings.Join(j.Reasons, ";"), "replaced by run "+cRun2.RunID) {
		t.Errorf("replaced run: %s %v", j.Verdict, j.Reasons)
	}
	for _, id := range []string{first.RunID, cRun2.RunID} {
		_ = td.c.Abort(ctx, id)
		td.wait(t, id)
	}
	if stopped(t, v.pid) || stopped(t, v2.pid) {
		t.Fatal("victim left stopped")
	}
}

func TestScheduleAndWindow(t *testing.T) {
	v := startVictim(t)
	cfg := testConfig(t)
	writeScen(t, cfg, "tick.toml", render(t, scen{Name: "tick", Schedule: "@every 1s", Duration: "0s", PID: v.pid}))
	closed := time.Now().Add(-3 * time.Hour)
	win := fmt.Sprintf("%s-%s", closed.Format("15:04"), closed.Add(time.Hour).Format("15:04"))
	writeScen(t, cfg, "closed.toml", render(t, scen{Name: "closed", Schedule: "@every 1s", Window: win, Duration: "0s", PID: v.pid}))
	td := start(t, cfg)
	ctx := context.Background()
	list, _ := td.c.Scenarios(ctx)
	for _, s := range list.Scenarios {
		if s.NextRun == nil || time.Until(*s.NextRun) > 2*time.Second {
			t.Errorf("%s: next run %v", s.Name, s.NextRun)
		}
	}
	var h []store.RunSummary
	waitFor(t, "a scheduled run to finish", 10*time.Second, func() bool {
		h, _ = td.c.History(ctx, 0, "")
		return len(h) > 0 && h[len(h)-1].Verdict != journal.Running
	})
	for _, r := range h {
		if r.Scenario != "tick" || r.Trigger != "schedule" {
			t.Errorf("run %+v: only tick runs, by schedule", r)
		}
	}
	if !strings.Contains(td.logs.String(), `"scenario":"closed","window":"`+win+`","message":"scheduled run skipped: outside its window"`) {
		t.Errorf("no skip logged for the closed window")
	}
}

func TestReloadKeepsValidScenarios(t *testing.T) {
	v := startVictim(t)
	cfg := testConfig(t)
	writeScen(t, cfg, "a.toml", render(t, scen{Name: "a", Duration: "1s", PID: v.pid}))
	td := start(t, cfg)
	ctx := context.Background()
	names := func() (string, int) {
		l, err := td.c.Scenarios(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, s := range l.Scenarios {
			n = append(n, s.Name)
		}
		return strings.Join(n, ","), len(l.Errors)
	}
	writeScen(t, cfg, "b.toml", render(t, scen{Name: "b", Duration: "1s", PID: v.pid}))
	waitFor(t, "b to be loaded on change", 5*time.Second, func() bool { n, _ := names(); return n == "a,b" })
	writeScen(t, cfg, "b.toml", []byte("version = 1\nname = \"b\"\n[steady\n"))
	writeScen(t, cfg, "dup.toml", render(t, scen{Name: "a", Duration: "1s", PID: v.pid}))
	waitFor(t, "b to be reported invalid, a kept", 5*time.Second, func() bool { n, e := names(); return n == "a" && e == 2 })
	l, _ := td.c.Scenarios(ctx)
	all := fmt.Sprint(l.Errors)
	if !strings.Contains(all, "b.toml:4:") || !strings.Contains(all, `dup.toml:2:1: name: scenario "a" is already defined in`) {
		t.Errorf("errors %s", all)
	}
	// SIGHUP's path: an explicit reload.
	if err := os.Remove(filepath.Join(cfg.ScenarioDirs[0], "dup.toml")); err != nil {
		t.Fatal(err)
	}
	td.d.Reload(ctx, "test")
	if _, e := names(); e != 1 {
		t.Errorf("after reload: %d errors", e)
	}
}

func TestMetrics(t *testing.T) {
	v := startVictim(t)
	cfg := testConfig(t)
	writeScen(t, cfg, "m.toml", render(t, scen{Name: "m", Duration: "100ms", PID: v.pid}))
	td := start(t, cfg)
	ctx := context.Background()
	res, err := td.c.Start(ctx, api.StartRequest{Scenario: "m"})
	if err != nil {
		t.Fatal(err)
	}
	td.wait(t, res.RunID)
	td.d.Metrics().PluginRestarts.WithLabelValues("process").Inc()
	resp, err := td.hc.Get("http://chaosctl/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`chaosctl_runs_total{scenario="m",verdict="passed"} 1`,
		`chaosctl_run_duration_seconds_count{scenario="m"} 1`,
		`chaosctl_time_to_recover_seconds_count{scenario="m"} 1`,
		`chaosctl_active_faults 0`,
		`chaosctl_probe_latency_seconds_count{probe="ok",scenario="m"}`,
		`chaosctl_plugin_restarts_total{plugin="process"} 1`,
		`chaosctl_scenarios_loaded 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestReconcileRevertsLeftFaults(t *testing.T) {
	v := startVictim(t)
	cfg := testConfig(t)
	ctx := context.Background()
	// What a daemon killed mid-fault leaves: a running run, an injected
	// fault with its revert data, and an intent with none.
	st, err := store.Open(cfg.Store, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := builtin.New("process")
	targets, err := p.Targets(ctx, "pause", nil, map[string]any{"pid": int64(v.pid)})
	if err != nil {
		t.Fatal(err)
	}
	f := journal.Fault{ID: "freeze/0", Name: "freeze", Plugin: "process", Action: "pause", Target: targets[0]}
	if err := st.PutRun(&journal.Journal{Format: 1, RunID: "r1", Scenario: "s", Verdict: journal.Running, Faults: []journal.Fault{f}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Ledger().Intent(ctx, "r1", f); err != nil {
		t.Fatal(err)
	}
	if f.RevertData, err = p.Inject(ctx, experimentsReq(f)); err != nil {
		t.Fatal(err)
	}
	if err := st.Ledger().Injected(ctx, "r1", f); err != nil {
		t.Fatal(err)
	}
	g := journal.Fault{ID: "freeze/1", Name: "freeze", Plugin: "process", Action: "pause", Target: targets[0]}
	if err := st.Ledger().Intent(ctx, "r1", g); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if !stopped(t, v.pid) {
		t.Fatal("setup: victim not stopped")
	}

	td := start(t, cfg)
	if stopped(t, v.pid) {
		t.Fatal("victim still stopped after the daemon started")
	}
	j, err := td.c.Run(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if j.Verdict != journal.Interrupted || j.Verdict.ExitCode() != 6 {
		t.Fatalf("verdict %s", j.Verdict)
	}
	reasons := strings.Join(j.Reasons, ";")
	if !strings.Contains(reasons, "reverted 1 fault(s)") || !strings.Contains(reasons, "1 fault(s) in unknown state") {
		t.Errorf("reasons %s", reasons)
	}
	if len(j.Faults) != 2 || j.Faults[0].RevertedAt == nil || !strings.Contains(j.Faults[1].RevertError, "intent only") {
		t.Errorf("faults %+v", j.Faults)
	}
	if p, _ := td.d.store.Pending(); len(p) != 0 {
		t.Errorf("still pending: %+v", p)
	}
}

func TestStoreLockedIsAStartupError(t *testing.T) {
	cfg := testConfig(t)
	start(t, cfg)
	cfg2 := cfg
	cfg2.API.Socket = filepath.Join(t.TempDir(), "other.sock")
	// New gives up after store_lock_timeout; the guard below only catches a
	// New that waits for the lock for good, however slow the machine.
	errc := make(chan error, 1)
	go func() {
		_, err := New(context.Background(), cfg2, Options{Log: zerolog.Nop(), Catalog: builtin.InProcess{}})
		errc <- err
	}()
	var err error
	select {
	case err = <-errc:
	case <-time.After(time.Minute):
		t.Fatalf("New still waiting for the locked store after a minute (store_lock_timeout %s)", cfg2.Defaults.StoreLockTimeout)
	}
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), cfg.Store) {
		t.Fatalf("err %v, want ErrLocked naming %s", err, cfg.Store)
	}
}

func TestStoreCorruptIsAStartupError(t *testing.T) {
	cfg := testConfig(t)
	if err := os.WriteFile(cfg.Store, bytes.Repeat([]byte("garbage!"), 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(context.Background(), cfg, Options{Log: zerolog.Nop(), Catalog: builtin.InProcess{}})
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), cfg.Store) {
		t.Fatalf("err %v, want ErrCorrupt naming %s", err, cfg.Store)
	}
	if b, _ := os.ReadFile(cfg.Store); !bytes.Equal(b, bytes.Repeat([]byte("garbage!"), 4096)) {
		t.Error("corrupt store was modified")
	}
}

// TestReconcileKeepsFaultWhosePluginIsMissing: a fault whose plugin cannot
// be loaded at restart stays pending (and is retried at the next start);
// it is never dropped as if it had been reverted.
func TestReconcileKeepsFaultWhosePluginIsMissing(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	st, err := store.Open(cfg.Store, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	f := journal.Fault{ID: "gone/0", Name: "gone", Plugin: "no-such-plugin", Action: "break",
		Target: plugins.Target{Kind: "thing", ID: "x"}, RevertData: []byte(`{"x":1}`)}
	if err := st.PutRun(&journal.Journal{Format: 1, RunID: "r2", Scenario: "s", Verdict: journal.Running, Faults: []journal.Fault{f}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Ledger().Intent(ctx, "r2", f); err != nil {
		t.Fatal(err)
	}
	if err := st.Ledger().Injected(ctx, "r2", f); err != nil {
		t.Fatal(err)
	}
	st.Close()

	td := start(t, cfg)
	p, err := td.d.store.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 1 || p[0].Fault.ID != "gone/0" || p[0].State != store.StateRevertFailed {
		t.Fatalf("pending after restart: %+v, want the fault kept as revert-failed", p)
	}
	if !strings.Contains(p[0].Fault.RevertError, "no-such-plugin") {
		t.Errorf("revert error %q does not name the plugin", p[0].Fault.RevertError)
	}
}

// TestReloadKeepsUnchangedSchedules: a reload does not restart the
// countdown of a schedule that did not change.
func TestReloadKeepsUnchangedSchedules(t *testing.T) {
	v := startVictim(t)
	cfg := testConfig(t)
	writeScen(t, cfg, "hourly.toml", render(t, scen{Name: "hourly", Schedule: "@every 1h", Duration: "0s", PID: v.pid}))
	td := start(t, cfg)
	ctx := context.Background()
	next := func() time.Time {
		l, err := td.c.Scenarios(ctx)
		if err != nil || len(l.Scenarios) == 0 || l.Scenarios[0].NextRun == nil {
			t.Fatalf("scenarios %+v %v", l, err)
		}
		return *l.Scenarios[0].NextRun
	}
	before := next()
	// A countdown restarted within the same second would end at the same
	// instant (cron rounds to the second): let the clock pass into the next
	// second, so that a restart would show.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	td.d.Reload(ctx, "test")
	if after := next(); !after.Equal(before) {
		t.Fatalf("next run moved from %v to %v on a reload", before, after)
	}
}
