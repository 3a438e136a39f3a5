package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins/latency/tcpproxy"
)

// daemonProc is a real `chaosctl daemon` process.
type daemonProc struct {
	dir, socket, store, scenarios string
	cmd                           *exec.Cmd
	log                           *bytes.Buffer
	done                          chan struct{}
	hc                            *http.Client
}

func newDaemonDir(t *testing.T) *daemonProc {
	t.Helper()
	dir := t.TempDir()
	d := &daemonProc{dir: dir, socket: filepath.Join(dir, "chaosctl.sock"), store: filepath.Join(dir, "chaosctl.db"), scenarios: filepath.Join(dir, "scenarios")}
	if err := os.MkdirAll(d.scenarios, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("scenario_dirs = [%q]\nstore = %q\n[api]\nsocket = %q\n[defaults]\nstore_lock_timeout = \"500ms\"\nrevert_timeout = \"5s\"\n", d.scenarios, d.store, d.socket)
	if err := os.WriteFile(filepath.Join(dir, "chaosctl.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d.hc = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", d.socket)
	}}}
	return d
}

// start runs the daemon and waits until its API answers.
func (d *daemonProc) start(t *testing.T) {
	t.Helper()
	d.log = &bytes.Buffer{}
	d.cmd = exec.Command(bins.chaosctl, "daemon", "--config", filepath.Join(d.dir, "chaosctl.toml"))
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.Env = append(os.Environ(), "CHAOSCTL_SOCKET="+d.socket)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.done = make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = d.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-d.done:
			case <-time.After(20 * time.Second):
				_ = d.cmd.Process.Kill()
				<-d.done
			}
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.log)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var st map[string]any
		if d.get(t, "/v1/status", &st) == http.StatusOK {
			return
		}
		select {
		case <-d.done:
			t.Fatalf("daemon exited: %v\n%s", d.cmd.ProcessState, d.log)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("daemon API did not come up:\n%s", d.log)
}

func (d *daemonProc) get(t *testing.T, path string, out any) int {
	t.Helper()
	resp, err := d.hc.Get("http://chaosctl" + path)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func (d *daemonProc) post(t *testing.T, path, body string, out any) int {
	t.Helper()
	resp, err := d.hc.Post("http://chaosctl"+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// startRun starts the named scenario and returns the run id.
func (d *daemonProc) startRun(t *testing.T, name string) string {
	t.Helper()
	var res struct {
		RunID string `json:"run_id"`
		Error string `json:"error"`
	}
	if code := d.post(t, "/v1/runs", `{"scenario":"`+name+`"}`, &res); code != http.StatusCreated {
		t.Fatalf("start %s: %d %s", name, code, res.Error)
	}
	return res.RunID
}

func (d *daemonProc) run(t *testing.T, id string) *journal.Journal {
	t.Helper()
	var j journal.Journal
	if code := d.get(t, "/v1/runs/"+id, &j); code != http.StatusOK {
		t.Fatalf("GET run %s: %d", id, code)
	}
	return &j
}

// procState is a process's state letter from /proc (T: stopped), "" when gone.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return f[0]
}

func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

// faultKind is one row of the crash test: a scenario fault block that stays
// active for a long time, a check that it is in effect, and a check that
// nothing of it is left.
type faultKind struct {
	name string
	// diesWithDaemon: the fault's effect lives in processes that die with
	// the daemon (stress workers get SIGKILL with their plugin, the plugin
	// with the daemon), so it ends at the kill; the restart must still
	// close its ledger entry.
	diesWithDaemon bool
	// setup prepares the target and returns the fault and the two checks.
	setup func(t *testing.T) (f fault, active, nothingLeft func(t *testing.T) bool)
}

var faultKinds = []faultKind{
	{
		name: "process-pause",
		setup: func(t *testing.T) (fault, func(*testing.T) bool, func(*testing.T) bool) {
			tg := startTarget(t, false)
			pid := tg.pid(t)
			return fault{Name: "freeze", Plugin: "process", Action: "pause", Keys: keys{"duration": "10m"}, Target: keys{"pidfile": tg.pidfile}},
				func(*testing.T) bool { return procState(pid) == "T" },
				func(*testing.T) bool { s := procState(pid); return s != "" && s != "T" }
		},
	},
	{
		name: "disk-fill",
		setup: func(t *testing.T) (fault, func(*testing.T) bool, func(*testing.T) bool) {
			dir := tmpfs(t, "16m")
			fills := func() int {
				m, _ := filepath.Glob(filepath.Join(dir, ".chaosctl-fill-*"))
				return len(m)
			}
			return fault{Name: "fill", Plugin: "disk", Action: "fill", Keys: keys{"duration": "10m"}, Params: keys{"percent": 60.0}, Target: keys{"path": dir}},
				func(*testing.T) bool { return fills() > 0 },
				func(*testing.T) bool { return fills() == 0 }
		},
	},
	{
		name:           "stress-cpu",
		diesWithDaemon: true,
		setup: func(t *testing.T) (fault, func(*testing.T) bool, func(*testing.T) bool) {
			return fault{Name: "burn", Plugin: "stress", Action: "cpu", Keys: keys{"duration": "10m"}, Params: keys{"workers": 1, "load": 20.0}},
				func(*testing.T) bool { return len(procsWith("plugin", "stress-worker")) > 0 },
				func(*testing.T) bool { return len(procsWith("plugin", "stress-worker")) == 0 }
		},
	},
	{
		name: "container-pause",
		setup: func(t *testing.T) (fault, func(*testing.T) bool, func(*testing.T) bool) {
			cli, img := needEngine(t)
			tn := makeNetwork(t, cli)
			name := "chaosctl-crash-" + uid()
			id := runContainer(t, cli, img, tn, name, ctrOpts{IP: tn.IP(10)})
			paused := func() bool {
				c, err := cli.ContainerInspect(context.Background(), id)
				return err == nil && c.State != nil && c.State.Paused
			}
			return fault{Name: "freeze", Plugin: "docker", Action: "pause", Keys: keys{"duration": "10m"}, Target: keys{"name": name}},
				func(*testing.T) bool { return paused() },
				func(*testing.T) bool { return !paused() }
		},
	},
	{
		name: "latency-proxy",
		setup: func(t *testing.T) (fault, func(*testing.T) bool, func(*testing.T) bool) {
			tg := startTarget(t, false)
			control := startChaosProxy(t, freeAddr(t), tg.addr)
			toxics := func() int {
				st, err := tcpproxy.NewClient(control).Status(context.Background())
				if err != nil {
					return -1
				}
				return len(st.Toxics)
			}
			return fault{Name: "slow", Plugin: "latency", Action: "delay", Keys: keys{"duration": "10m"}, Params: keys{"mode": "proxy", "delay": "200ms"}, Target: keys{"proxy": control}},
				func(*testing.T) bool { return toxics() > 0 },
				func(*testing.T) bool { return toxics() == 0 }
		},
	},
	httpProxyKind("abort", keys{"percent": 50.0, "status": 503}),
	httpProxyKind("delay", keys{"delay": "200ms"}),
	httpProxyKind("header", keys{"set_headers": keys{"x-chaos": "1"}}),
	networkKind("loss", keys{"percent": 30.0}),
	networkKind("block", keys{"cidrs": []string{"10.0.0.0/8"}}),
	networkKind("dns", nil),
	networkKind("bandwidth", keys{"rate": "1mbit"}),
}

// httpProxyKind is the crash row of one HTTP fault through `chaosctl
// proxy`: its toxic must be gone from the proxy after the restart.
func httpProxyKind(action string, params keys) faultKind {
	return faultKind{
		name: "http-" + action,
		setup: func(t *testing.T) (fault, func(*testing.T) bool, func(*testing.T) bool) {
			tg := startTarget(t, false)
			control := startChaosProxy(t, freeAddr(t), tg.addr)
			toxics := func() int {
				st, err := tcpproxy.NewClient(control).Status(context.Background())
				if err != nil {
					return -1
				}
				return len(st.Toxics)
			}
			p := keys{"mode": "proxy"}
			maps.Copy(p, params)
			return fault{Name: "http", Plugin: "latency", Action: "http_" + action, Keys: keys{"duration": "10m"}, Params: p, Target: keys{"proxy": control}},
				func(*testing.T) bool { return toxics() > 0 },
				func(*testing.T) bool { return toxics() == 0 }
		},
	}
}

// procsWith lists the pids whose command line holds all of words.
func procsWith(words ...string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cl, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		c := strings.ReplaceAll(string(cl), "\x00", " ")
		ok := len(c) > 0
		for _, w := range words {
			ok = ok && strings.Contains(c, w)
		}
		if ok {
			out = append(out, n)
		}
	}
	return out
}

// TestDaemonKilledMidFaultRevertsOnRestart: kill -9 the daemon while a
// fault is active; the restarted daemon reverts it and marks the run
// interrupted.
func TestDaemonKilledMidFaultRevertsOnRestart(t *testing.T) {
	for _, k := range faultKinds {
		t.Run(k.name, func(t *testing.T) {
			f, active, nothingLeft := k.setup(t)
			d := newDaemonDir(t)
			if err := os.WriteFile(filepath.Join(d.scenarios, "crash.toml"), []byte(aliveScenario("crash", f).toml()), 0o644); err != nil {
				t.Fatal(err)
			}
			d.start(t)
			id := d.startRun(t, "crash")
			eventually(t, "the fault to be active", 10*time.Second, func() bool { return active(t) })
			waitSampleLog(t, filepath.Join(d.dir, "samples", id+".jsonl"))

			if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-d.done
			if k.diesWithDaemon {
				eventually(t, "the fault to end with the daemon", 5*time.Second, func() bool { return nothingLeft(t) })
			} else {
				time.Sleep(300 * time.Millisecond)
				if !active(t) {
					t.Fatal("the fault ended with the daemon: the crash test proves nothing")
				}
			}

			d.start(t)
			if !nothingLeft(t) {
				t.Fatal("after restart the fault is still in effect")
			}
			j := d.run(t, id)
			if j.Verdict != journal.Interrupted || j.Verdict.ExitCode() != 6 {
				t.Fatalf("verdict %s %v, want interrupted", j.Verdict, j.Reasons)
			}
			if len(j.Faults) != 1 || j.Faults[0].RevertedAt == nil || !strings.Contains(strings.Join(j.Reasons, ";"), "reverted 1 fault(s)") {
				t.Errorf("journal faults %+v reasons %v", j.Faults, j.Reasons)
			}
			if len(j.Samples) == 0 || j.SampleLog == "" || j.SamplesTotal != len(j.Samples) {
				t.Errorf("the interrupted run's journal has %d of the %d samples it took before the crash, from %q", len(j.Samples), j.SamplesTotal, j.SampleLog)
			}
			// A second restart has nothing left to do.
			if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			<-d.done
			d.start(t)
			if strings.Contains(d.log.String(), "run reconciled") {
				t.Errorf("second restart reconciled again:\n%s", d.log)
			}
		})
	}
}

// TestDaemonSIGTERMRevertsAndExits: SIGTERM aborts the run, reverts its
// fault and exits 0; the run is stored as aborted.
func TestDaemonSIGTERMRevertsAndExits(t *testing.T) {
	k := faultKinds[0]
	f, active, nothingLeft := k.setup(t)
	d := newDaemonDir(t)
	if err := os.WriteFile(filepath.Join(d.scenarios, "term.toml"), []byte(aliveScenario("term", f).toml()), 0o644); err != nil {
		t.Fatal(err)
	}
	d.start(t)
	id := d.startRun(t, "term")
	eventually(t, "the fault to be active", 10*time.Second, func() bool { return active(t) })
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not exit on SIGTERM")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d, want 0\n%s", code, d.log)
	}
	if !nothingLeft(t) {
		t.Fatal("fault left in effect after SIGTERM")
	}
	if _, err := os.Stat(d.socket); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
	d.start(t)
	if j := d.run(t, id); j.Verdict != journal.Aborted || len(j.Faults) != 1 || j.Faults[0].RevertedAt == nil {
		t.Fatalf("stored run: %s %v %+v", j.Verdict, j.Reasons, j.Faults)
	}
}

// TestRunThroughDaemonSameOutput: `chaosctl run FILE` with a daemon on
// the socket runs there and prints what a local run prints.
func TestRunThroughDaemonSameOutput(t *testing.T) {
	tg := startTarget(t, true)
	path := scenarioFile(t, processScenario(tg, "kill", "0s"))
	local := chaosctl(t, context.Background(), "run", "--local", path)

	d := newDaemonDir(t)
	d.start(t)
	remote := chaosctlEnv(t, []string{"CHAOSCTL_SOCKET=" + d.socket}, "run", path)
	if local.code != 0 || remote.code != local.code {
		t.Fatalf("exit codes: local %d, daemon %d\nlocal:\n%s%s\ndaemon:\n%s%s", local.code, remote.code, local.stdout, local.stderr, remote.stdout, remote.stderr)
	}
	if got, want := shape(remote.stdout), shape(local.stdout); got != want {
		t.Errorf("summary differs:\ndaemon:\n%s\nlocal:\n%s", remote.stdout, local.stdout)
	}
	if remote.journal == nil || remote.journal.Verdict != journal.Passed || remote.journal.Labels["trigger"] != "file" {
		t.Fatalf("journal written by the client: %+v", remote.journal)
	}
	if !strings.Contains(remote.stderr, "run started in the daemon") || !strings.Contains(remote.stderr, `"message":"injected"`) {
		t.Errorf("progress lines:\n%s", remote.stderr)
	}
	// The run is in the daemon's history too.
	h := chaosctlEnv(t, nil, "history", "--socket", d.socket, "-o", "json")
	if !strings.Contains(h.stdout, remote.journal.RunID) {
		t.Errorf("history %s", h.stdout)
	}
	// An invalid file is reported as a local run reports it, exit 2.
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("version = 1\nname = \"x\"\nbogus = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lb := chaosctl(t, context.Background(), "run", "--local", bad)
	rb := chaosctlEnv(t, []string{"CHAOSCTL_SOCKET=" + d.socket}, "run", bad)
	if rb.code != 2 || rb.stderr != lb.stderr {
		t.Errorf("invalid file: daemon exit %d\n%s\nlocal exit %d\n%s", rb.code, rb.stderr, lb.code, lb.stderr)
	}
}

// shape is a summary with run ids, times and figures blanked.
func shape(s string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return strings.Join(out, "\n")
}

func chaosctlEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	jpath := filepath.Join(t.TempDir(), "journal.json")
	if len(args) > 0 && args[0] == "run" {
		args = append(args, "--journal", jpath)
	}
	cmd := exec.Command(bins.chaosctl, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("chaosctl %v: %v", args, err)
	}
	if b, err := os.ReadFile(jpath); err == nil {
		var j journal.Journal
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatalf("journal: %v", err)
		}
		r.journal = &j
	}
	return r
}

// TestDaemonCommands drives list, status, abort, halt, resume and history
// through the CLI.
func TestDaemonCommands(t *testing.T) {
	k := faultKinds[0]
	f, active, nothingLeft := k.setup(t)
	d := newDaemonDir(t)
	if err := os.WriteFile(filepath.Join(d.scenarios, "cli.toml"), []byte(aliveScenario("cli", f).toml()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.scenarios, "broken.toml"), []byte("version = 1\nname = \"broken\"\nwindow = \"Tuesday 10:00-12:00\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.start(t)
	cli := func(args ...string) result { return chaosctlEnv(t, nil, append(args, "--socket", d.socket)...) }

	l := cli("list")
	if l.code != 0 || !strings.Contains(l.stdout, "cli ") || !strings.Contains(l.stdout, `invalid: `+filepath.Join(d.scenarios, "broken.toml")+`:3:1: window: "Tuesday 10:00-12:00": unknown day "Tuesday"`) {
		t.Fatalf("list: %d\n%s%s", l.code, l.stdout, l.stderr)
	}
	id := d.startRun(t, "cli")
	eventually(t, "the fault to be active", 10*time.Second, func() bool { return active(t) })
	if s := cli("status"); s.code != 0 || !strings.Contains(s.stdout, id) {
		t.Errorf("status: %d\n%s%s", s.code, s.stdout, s.stderr)
	}
	if a := cli("abort", id); a.code != 0 {
		t.Fatalf("abort: %d %s", a.code, a.stderr)
	}
	eventually(t, "the fault to be reverted", 10*time.Second, func() bool { return nothingLeft(t) })
	eventually(t, "the run to be stored", 5*time.Second, func() bool { return d.run(t, id).Verdict == journal.Aborted })
	if s := cli("status", id); s.code != 0 || !strings.Contains(s.stdout, "ABORTED") {
		t.Errorf("status RUN: %d\n%s%s", s.code, s.stdout, s.stderr)
	}
	if h := cli("halt"); h.code != 0 || !strings.Contains(h.stdout, "halted") {
		t.Errorf("halt: %d %s %s", h.code, h.stdout, h.stderr)
	}
	var res struct{ Error string }
	if code := d.post(t, "/v1/runs", `{"scenario":"cli"}`, &res); code != http.StatusConflict {
		t.Errorf("start while halted: %d %s", code, res.Error)
	}
	if r := cli("resume"); r.code != 0 {
		t.Errorf("resume: %d %s", r.code, r.stderr)
	}
	if h := cli("history", "-o", "json"); h.code != 0 || !strings.Contains(h.stdout, `"verdict":"aborted"`) {
		t.Errorf("history: %d %s", h.code, h.stdout)
	}
	if s := cli("status", "20990101T000000Z-000000"); s.code != 2 || !strings.Contains(s.stderr, "unknown run") {
		t.Errorf("status of an unknown run: %d %s", s.code, s.stderr)
	}
	if a := cli("abort", id); a.code != 2 || !strings.Contains(a.stderr, "already finished") {
		t.Errorf("abort of a finished run: %d %s", a.code, a.stderr)
	}
	// A second daemon on the same store: clear start-up error, exit 5.
	other := exec.Command(bins.chaosctl, "daemon", "--config", filepath.Join(d.dir, "chaosctl.toml"))
	out, err := other.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 || !strings.Contains(string(out), d.store) || !strings.Contains(string(out), "locked by another process") {
		t.Errorf("second daemon: %v\n%s", err, out)
	}
	// No daemon at all: a clear error.
	if s := chaosctlEnv(t, nil, "status", "--socket", filepath.Join(t.TempDir(), "none.sock")); s.code != 5 || !strings.Contains(s.stderr, "no chaosctl daemon reachable") {
		t.Errorf("status without a daemon: %d %s", s.code, s.stderr)
	}
}
