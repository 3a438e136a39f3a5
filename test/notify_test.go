package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/notify"
)

// receiver is a real local HTTP server that records every request; it
// answers with status (200 when 0), and a Grafana-style id.
type receiver struct {
	*httptest.Server
	status int
	mu     sync.Mutex
	got    []received
}

type received struct {
	method, path, auth string
	body               []byte
}

func newReceiver(t *testing.T, status int) *receiver {
	r := &receiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{method: req.Method, path: req.URL.Path, auth: req.Header.Get("Authorization"), body: body})
		n := len(r.got)
		r.mu.Unlock()
		if r.status != 0 {
			w.WriteHeader(r.status)
			return
		}
		fmt.Fprintf(w, `{"id": %d, "message": "Annotation added"}`, n)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *receiver) payloads(t *testing.T) []notify.Payload {
	t.Helper()
	var out []notify.Payload
	for _, q := range r.requests() {
		var p notify.Payload
		if err := json.Unmarshal(q.body, &p); err != nil {
			t.Fatalf("webhook body %s: %v", q.body, err)
		}
		out = append(out, p)
	}
	return out
}

type annotationBody struct {
	Time    int64    `json:"time"`
	TimeEnd int64    `json:"timeEnd"`
	Tags    []string `json:"tags"`
	Text    string   `json:"text"`
}

// checkRunNotified: the webhook saw start, the fault in and out, and the
// verdict, in order, for run j; Grafana got the fault's region at the
// journal's instants, tagged with the verdict; Slack got the verdict.
func checkRunNotified(t *testing.T, j *journal.Journal, hook, grafana, slack *receiver) {
	t.Helper()
	var seq []string
	for _, p := range hook.payloads(t) {
		if p.Schema != notify.Schema || p.RunID != j.RunID || p.Scenario != j.Scenario {
			t.Errorf("payload of another run or schema: %+v", p)
		}
		s := p.Event
		if p.Fault != nil {
			s += ":" + p.Fault.State
		}
		if p.Verdict != nil {
			s += ":" + p.Verdict.Verdict
			if p.Verdict.ExitCode != j.Verdict.ExitCode() {
				t.Errorf("exit code %d, journal's verdict says %d", p.Verdict.ExitCode, j.Verdict.ExitCode())
			}
			if j.Recovery != nil && j.Recovery.Duration != nil && p.Verdict.TimeToRecoverNS == nil {
				t.Errorf("verdict without the time to recover %v", *j.Recovery.Duration)
			}
		}
		seq = append(seq, s)
	}
	// A kill is instantaneous: in and out; a fact check may come between.
	seq = slices.DeleteFunc(seq, func(s string) bool { return s == "fault:checked" })
	f := j.Faults[0]
	want := []string{"start", "fault:injected", "fault:reverted", "verdict:" + string(j.Verdict)}
	if f.RevertedAt == nil { // instantaneous: nothing goes out
		want = slices.Delete(want, 2, 3)
	}
	if !slices.Equal(seq, want) {
		t.Errorf("webhook events %v, want %v", seq, want)
	}

	var region, run *annotationBody
	patched := false
	for _, q := range grafana.requests() {
		if q.auth != "Bearer grafana-token" {
			t.Errorf("Grafana %s %s with Authorization %q", q.method, q.path, q.auth)
		}
		var a annotationBody
		if err := json.Unmarshal(q.body, &a); err != nil {
			t.Fatal(err)
		}
		switch {
		case q.method == http.MethodPost && slices.Contains(a.Tags, "fault:"+f.Name):
			region = &a
		case q.method == http.MethodPost:
			run = &a
		case q.method == http.MethodPatch && q.path == "/api/annotations/1":
			patched = slices.Contains(a.Tags, "verdict:"+string(j.Verdict))
		}
	}
	if region == nil || f.InjectedAt == nil {
		t.Fatalf("no fault annotation in %d Grafana requests (fault %+v)", len(grafana.requests()), f)
	}
	end := int64(0) // an instantaneous fault is a point
	if f.RevertedAt != nil {
		end = f.RevertedAt.UnixMilli()
	} else {
		patched = slices.Contains(region.Tags, "verdict:"+string(j.Verdict)) // posted with the verdict
	}
	if region.Time != f.InjectedAt.UnixMilli() || region.TimeEnd != end {
		t.Errorf("annotation %d..%d, journal's fault %d..%d", region.Time, region.TimeEnd, f.InjectedAt.UnixMilli(), end)
	}
	for _, tag := range []string{"scenario:" + j.Scenario, "run:" + j.RunID} {
		if !slices.Contains(region.Tags, tag) {
			t.Errorf("region tags %v lack %s", region.Tags, tag)
		}
	}
	if !patched {
		t.Error("the fault region was not tagged with the verdict")
	}
	if run == nil || !slices.Contains(run.Tags, "verdict:"+string(j.Verdict)) || run.Time > f.InjectedAt.UnixMilli() || run.TimeEnd < max(end, f.InjectedAt.UnixMilli()) {
		t.Errorf("run annotation %+v", run)
	}

	sl := slack.requests()
	if len(sl) != 1 {
		t.Fatalf("%d Slack messages, want the verdict", len(sl))
	}
	var m struct{ Text string }
	if err := json.Unmarshal(sl[0].body, &m); err != nil || !strings.Contains(m.Text, j.RunID) || !strings.Contains(m.Text, string(j.Verdict)) {
		t.Errorf("Slack message %s (%v)", sl[0].body, err)
	}
}

func grafanaToken(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "grafana.token")
	if err := os.WriteFile(p, []byte("grafana-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNotifyRun: a real `chaosctl run` of a process kill notifies real
// local receivers; a receiver that answers 500 is retried a bounded
// number of times and changes neither the verdict nor the exit code.
func TestNotifyRun(t *testing.T) {
	tg := startTarget(t, true)
	path := scenarioFile(t, processScenario(tg, "kill", "0s"))
	hook, grafana, slack, broken := newReceiver(t, 0), newReceiver(t, 0), newReceiver(t, 0), newReceiver(t, http.StatusInternalServerError)
	start := time.Now()
	r := chaosctl(t, context.Background(), "run", "--local", path,
		"--notify-webhook", hook.URL+"/hook", "--notify-webhook", broken.URL+"/hook",
		"--notify-grafana", grafana.URL, "--notify-grafana-token-file", grafanaToken(t),
		"--notify-slack", slack.URL+"/services/T/B/X")
	took := time.Since(start)
	if r.code != 0 || r.journal == nil || r.journal.Verdict != journal.Passed {
		t.Fatalf("exit %d, want 0 (passed): a receiver that fails must not change it\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	checkRunNotified(t, r.journal, hook, grafana, slack)

	// The broken receiver: each event tried at most 3 times, the start
	// (sent early, with the run still going) exactly 3 times.
	tries := map[string]int{}
	for _, p := range broken.payloads(t) {
		key := p.Event
		if p.Fault != nil {
			key += ":" + p.Fault.State
		}
		tries[key]++
	}
	for k, n := range tries {
		if n > 3 {
			t.Errorf("%s tried %d times, want at most 3", k, n)
		}
	}
	if tries["start"] != 3 {
		t.Errorf("start tried %d times, want 3 (tries: %v)", tries["start"], tries)
	}
	if !strings.Contains(r.stderr, "notification not delivered") {
		t.Errorf("the failed delivery is not logged:\n%s", r.stderr)
	}
	// The drain after the run is bounded (5s), whatever the broken receiver does.
	if run := r.journal.EndedAt.Sub(r.journal.StartedAt); took > run+15*time.Second {
		t.Errorf("chaosctl took %v for a %v run", took, run)
	}
}

// TestNotifyDaemonRun: the daemon's [notify] section gets a daemon run's
// notifications. Its fault is a pause, reverted after 500ms, so Grafana
// gets a region from injection to revert, tagged with the verdict later
// (the kill of TestNotifyRun is a point).
func TestNotifyDaemonRun(t *testing.T) {
	hook, grafana, slack := newReceiver(t, 0), newReceiver(t, 0), newReceiver(t, 0)
	tg := startTarget(t, true)
	d := newDaemonDir(t)
	cfgPath := filepath.Join(d.dir, "chaosctl.toml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg = fmt.Appendf(cfg, "[[notify.webhook]]\nurl = %q\n[notify.grafana]\nurl = %q\ntoken_file = %q\n[[notify.slack]]\nurl = %q\n",
		hook.URL+"/hook", grafana.URL, grafanaToken(t), slack.URL+"/services/T/B/X")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.scenarios, "crash.toml"), []byte(processScenario(tg, "pause", "500ms").toml()), 0o644); err != nil {
		t.Fatal(err)
	}
	d.start(t)
	id := d.startRun(t, "api-crash")
	var j *journal.Journal
	eventually(t, "the run to end", 30*time.Second, func() bool {
		j = d.run(t, id)
		return j.Verdict != journal.Running
	})
	if j.Verdict != journal.Passed || len(j.Faults) != 1 || j.Faults[0].RevertedAt == nil {
		t.Fatalf("verdict %s %v, faults %+v: want passed with the pause reverted", j.Verdict, j.Reasons, j.Faults)
	}
	// Grafana: the fault's region, its verdict tag (a PATCH), the run's.
	eventually(t, "the verdict's notifications", 10*time.Second, func() bool {
		ps := hook.payloads(t)
		return len(slack.requests()) == 1 && len(grafana.requests()) >= 3 && len(ps) > 0 && ps[len(ps)-1].Event == notify.EventVerdict
	})
	checkRunNotified(t, j, hook, grafana, slack)
}
