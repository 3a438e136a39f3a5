package ui

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/daemon/store"
	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
)

// fakeAPI is a daemon that records what was asked of it.
type fakeAPI struct {
	mu     sync.Mutex
	halted bool
	calls  []string
	runs   map[string]*journal.Journal
	list   api.ScenariosResponse
	files  map[string]string // scenario name -> its TOML
	pms    map[string]api.PostmortemInfo
}

func (f *fakeAPI) call(s string) { f.mu.Lock(); f.calls = append(f.calls, s); f.mu.Unlock() }

func (f *fakeAPI) Status(context.Context) (api.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return api.Status{Halted: f.halted, Active: []api.RunStatus{}}, nil
}
func (f *fakeAPI) Scenarios(context.Context) (api.ScenariosResponse, error) { return f.list, nil }
func (f *fakeAPI) Scenario(_ context.Context, name string) (api.ScenarioDetail, error) {
	for _, si := range f.list.Scenarios {
		if si.Name == name {
			return api.ScenarioDetail{ScenarioInfo: si, Content: f.files[name], Postmortem: f.pms[name]}, nil
		}
	}
	return api.ScenarioDetail{}, &api.APIError{Status: http.StatusNotFound, ErrorResponse: api.ErrorResponse{Error: "unknown scenario", Code: "unknown_scenario"}}
}
func (f *fakeAPI) Start(_ context.Context, req api.StartRequest) (api.StartResponse, error) {
	f.call("start " + req.Scenario)
	return api.StartResponse{RunID: "r2", Scenario: req.Scenario}, nil
}
func (f *fakeAPI) Run(_ context.Context, id string) (*journal.Journal, error) {
	if j, ok := f.runs[id]; ok {
		return j, nil
	}
	return nil, &api.APIError{Status: http.StatusNotFound, ErrorResponse: api.ErrorResponse{Error: "unknown run " + id, Code: "unknown_run"}}
}
func (f *fakeAPI) History(context.Context, int, string) ([]store.RunSummary, error) {
	var out []store.RunSummary
	for _, j := range f.runs {
		out = append(out, store.Summarize(j))
	}
	return out, nil
}
func (f *fakeAPI) Abort(_ context.Context, id string) error { f.call("abort " + id); return nil }
func (f *fakeAPI) Halt(context.Context) (api.HaltResponse, error) {
	f.call("halt")
	f.mu.Lock()
	f.halted = true
	f.mu.Unlock()
	return api.HaltResponse{Halted: true}, nil
}
func (f *fakeAPI) Resume(context.Context) error { f.call("resume"); return nil }
func (f *fakeAPI) Events(_ context.Context, id string, fn func(experiments.Event)) error {
	if _, ok := f.runs[id]; !ok {
		return &api.APIError{Status: http.StatusNotFound, ErrorResponse: api.ErrorResponse{Error: "unknown run", Code: "unknown_run"}}
	}
	fn(experiments.Event{RunID: id, Kind: experiments.EventVerdict, Verdict: journal.Passed})
	return nil
}

const evil = `<script>alert("x")</script>`

func newFake() *fakeAPI {
	t0 := time.Date(2026, 3, 14, 3, 12, 0, 0, time.UTC)
	return &fakeAPI{
		runs: map[string]*journal.Journal{"r1": {RunID: "r1", Scenario: "crash" + evil, StartedAt: t0, EndedAt: t0.Add(5 * time.Second),
			Verdict: journal.Failed, Reasons: []string{"reason " + evil}, Postmortem: journal.Postmortem{ID: "INC-1", URL: "javascript:alert(1)"}}},
		list: api.ScenariosResponse{Scenarios: []api.ScenarioInfo{{Name: "crash" + evil, File: "/s/crash.toml", Description: "d " + evil}},
			Errors: []api.LoadError{{File: "/s/bad.toml", Errors: []string{"/s/bad.toml:3:1: name: " + evil}}}},
		files: map[string]string{"crash" + evil: "name = \"x\"\n[postmortem]\nid = \"INC-<b>1</b>\"\nurl = \"javascript:alert(1)\"\nsummary = \"" + `<img src=x onerror=alert(1)>` + "\"\n"},
		pms:   map[string]api.PostmortemInfo{"crash" + evil: {ID: "INC-<b>1</b>", URL: "javascript:alert(1)", Summary: `<img src=x onerror=alert(1)>`}},
	}
}

// client is a browser with a session on a dashboard over f.
func client(t *testing.T, f *fakeAPI) (*httptest.Server, *Handler, *http.Client) {
	t.Helper()
	h, err := New(Options{API: f})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(h.LoginURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.RawQuery != "" {
		t.Fatalf("login: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	return srv, h, c
}

func get(t *testing.T, c *http.Client, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	_, rest, ok := strings.Cut(body, `name="csrf" value="`)
	if !ok {
		t.Fatal("page has no CSRF field")
	}
	tok, _, _ := strings.Cut(rest, `"`)
	return tok
}

func TestLoginTokenOnceAndCookie(t *testing.T) {
	f := newFake()
	h, _ := New(Options{API: f})
	srv := httptest.NewServer(h)
	defer srv.Close()
	u := h.LoginURL(srv.URL)
	nc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := nc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("first use: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	ck := resp.Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Name != SessionCookie {
		t.Fatalf("cookie: %+v", ck)
	}
	code, _, body := get(t, nc, u)
	if code != http.StatusForbidden || !strings.Contains(body, "already been used or has expired") || !strings.Contains(body, "chaosctl ui") {
		t.Errorf("reused token: %d\n%s", code, body)
	}
	// An expired one.
	now := time.Now()
	h.now = func() time.Time { return now }
	u = h.LoginURL(srv.URL)
	h.now = func() time.Time { return now.Add(LoginTokenTTL + time.Second) }
	if code, _, body := get(t, nc, u); code != http.StatusForbidden || !strings.Contains(body, "chaosctl ui") {
		t.Errorf("expired token: %d\n%s", code, body)
	}
	if code, _, _ := get(t, nc, srv.URL+"/"); code != http.StatusUnauthorized {
		t.Errorf("no session: %d, want 401", code)
	}
}

func TestCSRF(t *testing.T) {
	f := newFake()
	srv, _, c := client(t, f)
	_, _, page := get(t, c, srv.URL+"/")
	tok := csrfOf(t, page)
	for _, form := range []url.Values{{}, {"csrf": {"forged"}}, {"csrf": {tok + "x"}}} {
		for _, path := range []string{"/halt", "/resume", "/runs/r1/abort", "/scenarios/x/run", "/scenarios/x/preview"} {
			resp, err := c.PostForm(srv.URL+path, form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %v: %d, want 403", path, form, resp.StatusCode)
			}
		}
	}
	if len(f.calls) != 0 {
		t.Fatalf("a forged request reached the daemon: %v", f.calls)
	}
	// From another origin, even with the token.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/halt", strings.NewReader(url.Values{"csrf": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(f.calls) != 0 {
		t.Fatalf("cross-origin halt: %d, calls %v", resp.StatusCode, f.calls)
	}
	// With it: halted, and every page says so.
	resp, err = c.PostForm(srv.URL+"/halt", url.Values{"csrf": {tok}, "back": {"/history"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/history" || !strings.Contains(string(b), "HALTED") {
		t.Fatalf("halt: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	if len(f.calls) != 1 || f.calls[0] != "halt" {
		t.Fatalf("calls %v", f.calls)
	}
}

func TestCSP(t *testing.T) {
	srv, _, c := client(t, newFake())
	for _, path := range []string{"/", "/history", "/runs/r1", "/runs/r1/report", "/runs/nope", "/assets/live.js"} {
		code, hd, body := get(t, c, srv.URL+path)
		csp := hd.Get("Content-Security-Policy")
		if csp == "" || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if strings.HasSuffix(path, ".js") {
			continue
		}
		if path != "/runs/r1/report" && (strings.Contains(body, "<style") || strings.Contains(body, "style=") || strings.Contains(body, "<script>")) {
			t.Errorf("%s (%d): inline style or script", path, code)
		}
	}
}

func TestEscaping(t *testing.T) {
	srv, _, c := client(t, newFake())
	for _, path := range []string{"/", "/scenarios/" + url.PathEscape("crash"+evil), "/history", "/runs/r1", "/runs/r1/report"} {
		code, _, body := get(t, c, srv.URL+path)
		if code != http.StatusOK {
			t.Errorf("%s: %d", path, code)
		}
		for _, raw := range []string{evil, "<img src=x", "<b>1</b>", `href="javascript:`} {
			if strings.Contains(body, raw) {
				t.Errorf("%s: unescaped %s", path, raw)
			}
		}
	}
	_, _, body := get(t, c, srv.URL+"/")
	if !strings.Contains(body, "&lt;script&gt;") || !strings.Contains(body, `:3:1: name:`) {
		t.Errorf("scenarios page lacks the escaped name or the load error:\n%s", body)
	}
}

func TestNotFound(t *testing.T) {
	srv, _, c := client(t, newFake())
	for _, path := range []string{"/runs/nope", "/runs/nope/report", "/scenarios/nope", "/nowhere"} {
		code, hd, body := get(t, c, srv.URL+path)
		if code != http.StatusNotFound || !strings.HasPrefix(hd.Get("Content-Type"), "text/html") || !strings.Contains(body, "Not found") || !strings.Contains(body, `id="halt"`) {
			t.Errorf("%s: %d %s\n%s", path, code, hd.Get("Content-Type"), body)
		}
	}
	if code, _, _ := get(t, c, srv.URL+"/runs/nope/events"); code != http.StatusNotFound {
		t.Errorf("events of an unknown run: %d", code)
	}
}

func TestEventsProxied(t *testing.T) {
	srv, _, c := client(t, newFake())
	code, hd, body := get(t, c, srv.URL+"/runs/r1/events")
	if code != http.StatusOK || hd.Get("Content-Type") != "text/event-stream" || !strings.Contains(body, "event: verdict\ndata: {") {
		t.Fatalf("%d %s\n%s", code, hd.Get("Content-Type"), body)
	}
}
