package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// fakeReceiver is an http.RoundTripper that records each request and
// answers with answer (default 200, and a Grafana id for POSTs).
type fakeReceiver struct {
	mu     sync.Mutex
	reqs   []recorded
	answer func(n int, r *http.Request) (int, error)
}

type recorded struct {
	at                  time.Time
	method, url, bearer string
	body                []byte
}

func (f *fakeReceiver) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{at: time.Now(), method: r.Method, url: r.URL.String(), bearer: r.Header.Get("Authorization"), body: body})
	n := 0 // the receiver's own count: lanes run side by side
	for _, q := range f.reqs {
		if strings.HasPrefix(q.url, r.URL.Scheme+"://"+r.URL.Host+"/") {
			n++
		}
	}
	f.mu.Unlock()
	code := http.StatusOK
	if f.answer != nil {
		c, err := f.answer(n, r)
		if err != nil {
			return nil, err
		}
		code = c
	}
	resp := fmt.Sprintf(`{"id": %d, "message": "Annotation added"}`, n)
	return &http.Response{StatusCode: code, Body: io.NopCloser(strings.NewReader(resp)), Header: http.Header{}, Request: r}, nil
}

func (f *fakeReceiver) recorded() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// lockedBuffer is a log sink the receivers' lanes may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

// events is a run's events as the engine emits them: phases, a fault
// injected then reverted (with its fact check), recovery, the verdict.
func events() []experiments.Event {
	f := journal.Fault{ID: "f1", Name: "kill-api", Plugin: "process", Action: "kill",
		Target: plugins.Target{Kind: "process", ID: "4242"}, IntentAt: t0.Add(time.Second)}
	injected := f
	injected.InjectedAt = at(1100 * time.Millisecond)
	checked := injected
	checked.Effect, checked.EffectDetail = journal.EffectConfirmed, "pid 4242 is gone"
	reverted := checked
	reverted.RevertedAt = at(1200 * time.Millisecond)
	ev := func(d time.Duration, e experiments.Event) experiments.Event {
		e.Time, e.RunID = t0.Add(d), "run-1"
		return e
	}
	return []experiments.Event{
		ev(0, experiments.Event{Kind: experiments.EventPhase, Phase: journal.PhasePreflight}),
		ev(500*time.Millisecond, experiments.Event{Kind: experiments.EventPhase, Phase: journal.PhaseSteady}),
		ev(time.Second, experiments.Event{Kind: experiments.EventFault, Fault: &f}),
		ev(1100*time.Millisecond, experiments.Event{Kind: experiments.EventFault, Fault: &injected}),
		ev(1150*time.Millisecond, experiments.Event{Kind: experiments.EventFault, Fault: &checked}),
		ev(1200*time.Millisecond, experiments.Event{Kind: experiments.EventFault, Fault: &reverted}),
		ev(1300*time.Millisecond, experiments.Event{Kind: experiments.EventRecovery, Recovery: &experiments.RecoveryState{State: experiments.RecoveryWaiting}}),
		ev(1800*time.Millisecond, experiments.Event{Kind: experiments.EventRecovery, Recovery: &experiments.RecoveryState{State: experiments.RecoveryConfirming, At: 650 * time.Millisecond}}),
		ev(2800*time.Millisecond, experiments.Event{Kind: experiments.EventRecovery, Recovery: &experiments.RecoveryState{State: experiments.RecoveryWatching, At: 650 * time.Millisecond}}),
		ev(3*time.Second, experiments.Event{Kind: experiments.EventVerdict, Verdict: journal.Failed, Reasons: []string{"available: 92.5% < 100%"}}),
	}
}

func tokenFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func allSinks(t *testing.T) Config {
	return Config{
		Webhooks: []Webhook{{URL: "http://127.0.0.1:1/hook"}},
		Grafana:  Grafana{URL: "http://127.0.0.1:2/", TokenFile: tokenFile(t), DashboardUID: "chaos"},
		Slack:    []Slack{{URL: "http://127.0.0.1:3/services/T/B/X", Events: []string{EventFault, EventVerdict}}},
	}
}

// TestPayloadsGolden: every request a run's events make, in the order
// they are sent, against testdata/run.golden.
func TestPayloadsGolden(t *testing.T) {
	rec := &fakeReceiver{}
	r := Start(allSinks(t), "run-1", "api-crash", Options{Log: zerolog.Nop(), Client: &http.Client{Transport: rec}})
	for _, ev := range events() {
		r.Observe(ev)
	}
	r.Close()
	var out bytes.Buffer
	// Each receiver in the order it was sent to; receivers by URL.
	reqs := rec.recorded()
	sort.SliceStable(reqs, func(i, j int) bool { return redact(reqs[i].url) < redact(reqs[j].url) })
	for _, q := range reqs {
		fmt.Fprintf(&out, "%s %s", q.method, q.url)
		if q.bearer != "" {
			fmt.Fprintf(&out, " (%s)", q.bearer)
		}
		out.WriteString("\n")
		if err := json.Indent(&out, q.body, "", "  "); err != nil {
			t.Fatalf("%s: %v", q.body, err)
		}
		out.WriteString("\n\n")
	}
	golden := filepath.Join("testdata", "run.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if out.String() != string(want) {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestWebhookSchema: the payload decodes into Payload with the schema
// version, and a receiver's events list filters what it gets.
func TestWebhookSchema(t *testing.T) {
	rec := &fakeReceiver{}
	cfg := Config{Webhooks: []Webhook{{URL: "http://127.0.0.1:1/v", Events: []string{EventVerdict}}}}
	r := Start(cfg, "run-1", "api-crash", Options{Log: zerolog.Nop(), Client: &http.Client{Transport: rec}})
	for _, ev := range events() {
		r.Observe(ev)
	}
	r.Close()
	got := rec.recorded()
	if len(got) != 1 {
		t.Fatalf("%d requests, want the verdict only", len(got))
	}
	var p Payload
	if err := json.Unmarshal(got[0].body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Schema != Schema || p.Event != EventVerdict || p.Verdict == nil || p.Verdict.ExitCode != 1 ||
		p.Verdict.TimeToRecoverNS == nil || *p.Verdict.TimeToRecoverNS != int64(650*time.Millisecond) {
		t.Errorf("payload %+v %+v", p, p.Verdict)
	}
}

// TestNilRunIsQuiet: nothing configured, nothing to do.
func TestNilRunIsQuiet(t *testing.T) {
	r := Start(Config{}, "run-1", "s", Options{})
	if r != nil {
		t.Fatal("a Run for an empty config")
	}
	r.Observe(experiments.Event{Kind: experiments.EventVerdict})
	r.Close()
}

// TestGrafanaTokenUnreadable: Grafana is off for the run, the others send.
func TestGrafanaTokenUnreadable(t *testing.T) {
	rec := &fakeReceiver{}
	cfg := allSinks(t)
	cfg.Grafana.TokenFile = filepath.Join(t.TempDir(), "missing")
	var logs lockedBuffer
	r := Start(cfg, "run-1", "s", Options{Log: zerolog.New(&logs), Client: &http.Client{Transport: rec}})
	for _, ev := range events() {
		r.Observe(ev)
	}
	r.Close()
	for _, q := range rec.recorded() {
		if strings.Contains(q.url, ":2/") {
			t.Errorf("Grafana called without a token: %s", q.url)
		}
	}
	if len(rec.recorded()) == 0 || !strings.Contains(logs.String(), "no Grafana annotations") {
		t.Errorf("requests %d, logs %s", len(rec.recorded()), logs.String())
	}
}

func verdictOnly() []experiments.Event {
	return []experiments.Event{{Time: t0, Kind: experiments.EventVerdict, Verdict: journal.Passed, RunID: "run-1"}}
}

// TestRetryBackoff: in simulated time, a receiver that keeps failing is
// tried Tries times, Backoff then twice Backoff apart; one that recovers
// is delivered; a 4xx is not retried.
func TestRetryBackoff(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(n int, r *http.Request) (int, error)
		tries  int
		gaps   []time.Duration
		logged string
	}{
		{"500 always", func(int, *http.Request) (int, error) { return 500, nil }, 3, []time.Duration{500 * time.Millisecond, time.Second}, "notification not delivered"},
		{"network error", func(int, *http.Request) (int, error) { return 0, errors.New("connection refused") }, 3, []time.Duration{500 * time.Millisecond, time.Second}, "connection refused"},
		{"500 then ok", func(n int, _ *http.Request) (int, error) {
			if n < 3 {
				return 503, nil
			}
			return 200, nil
		}, 3, []time.Duration{500 * time.Millisecond, time.Second}, ""},
		{"404 once", func(int, *http.Request) (int, error) { return 404, nil }, 1, nil, "HTTP 404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &fakeReceiver{answer: tc.answer}
				var logs lockedBuffer
				r := Start(Config{Slack: []Slack{{URL: "http://127.0.0.1:1/x"}}}, "run-1", "s",
					Options{Log: zerolog.New(&logs), Client: &http.Client{Transport: rec}})
				for _, ev := range verdictOnly() {
					r.Observe(ev)
				}
				r.Close()
				got := rec.recorded()
				if len(got) != tc.tries {
					t.Fatalf("%d tries, want %d", len(got), tc.tries)
				}
				for i, want := range tc.gaps {
					if gap := got[i+1].at.Sub(got[i].at); gap != want {
						t.Errorf("wait before try %d: %v, want %v", i+2, gap, want)
					}
				}
				if tc.logged != "" && !strings.Contains(logs.String(), tc.logged) {
					t.Errorf("log lacks %q:\n%s", tc.logged, logs.String())
				}
				if tc.logged == "" && strings.Contains(logs.String(), "not delivered") {
					t.Errorf("delivered, yet logged:\n%s", logs.String())
				}
			})
		})
	}
}

// TestTryTimeoutAndDrain: a receiver that never answers costs each try
// TryTimeout; Close gives up after Drain and logs what it dropped.
func TestTryTimeoutAndDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hang := func(_ int, r *http.Request) (int, error) {
			<-r.Context().Done()
			return 0, r.Context().Err()
		}
		rec := &fakeReceiver{answer: hang}
		var logs lockedBuffer
		cfg := Config{Webhooks: []Webhook{{URL: "http://127.0.0.1:1/x"}}}
		r := Start(cfg, "run-1", "s", Options{Log: zerolog.New(&logs), Client: &http.Client{Transport: rec}, TryTimeout: time.Second, Drain: 3 * time.Second})
		for _, ev := range events() {
			r.Observe(ev) // never blocks, though nothing is delivered
		}
		start := time.Now()
		r.Close()
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("Close took %v, want the drain, 3s", d)
		}
		// try 1 (1s), wait 500ms, try 2 (1s), wait 1s: the drain ends the wait.
		if n := len(rec.recorded()); n != 2 {
			t.Errorf("%d tries within the drain, want 2", n)
		}
		if !strings.Contains(logs.String(), `"dropped":5`) {
			t.Errorf("no drop count in the log (start, fault in, checked, out, verdict):\n%s", logs.String())
		}
	})
}

// TestQueueFull: Observe never waits for a slow receiver; past the queue,
// notifications are dropped with a log line.
func TestQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		rec := &fakeReceiver{answer: func(int, *http.Request) (int, error) { <-release; return 200, nil }}
		var logs lockedBuffer
		cfg := Config{Webhooks: []Webhook{{URL: "http://127.0.0.1:1/x"}}}
		r := Start(cfg, "run-1", "s", Options{Log: zerolog.New(&logs), Client: &http.Client{Transport: rec}, Queue: 1})
		start := time.Now()
		evs := events()
		r.Observe(evs[0])
		synctest.Wait() // the start is in flight
		for _, ev := range evs[1:] {
			r.Observe(ev)
		}
		if time.Since(start) != 0 {
			t.Error("Observe waited")
		}
		synctest.Wait()
		close(release)
		r.Close()
		if !strings.Contains(logs.String(), "notification queue full") {
			t.Errorf("no log of the dropped notification:\n%s", logs.String())
		}
		if n := len(rec.recorded()); n != 2 {
			t.Errorf("%d delivered, want 2 (the one in flight and the one queued)", n)
		}
	})
}

func TestCheck(t *testing.T) {
	cfg := Config{
		Webhooks: []Webhook{{URL: "ftp://x/"}, {URL: "http://h/", Events: []string{"fault", "end"}}},
		Grafana:  Grafana{DashboardUID: "x"},
		Slack:    []Slack{{}},
	}
	var got []string
	for _, e := range cfg.Check("notify") {
		got = append(got, e.Error())
	}
	want := []string{
		`notify.webhook[0].url: "ftp://x/": want an http:// or https:// URL`,
		`notify.webhook[1].events[1]: "end" is not an event: want start, fault, verdict`,
		`notify.slack[0].url: required`,
		`notify.grafana.url: required: token_file and dashboard_uid apply to a Grafana URL`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if errs := allSinks(t).Check("notify"); len(errs) != 0 {
		t.Errorf("good config: %v", errs)
	}
	_ = context.Background
}
