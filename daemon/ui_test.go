package daemon

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/plugins/builtin"
)

// UIDaemon is a daemon with a TCP listener and its dashboard, for the
// dashboard's tests (here and in package daemon_test, which may import
// internal/ui).
type UIDaemon struct {
	Addr   string // http://127.0.0.1:port
	Token  string
	Client *api.Client // through the unix socket
}

// StartUIDaemon runs a daemon with one scenario, a TCP listener with a
// bearer token, and [ui] enabled set to enabled with the dashboard f,
// until the test ends.
func StartUIDaemon(t *testing.T, enabled bool, f UIFactory) UIDaemon {
	t.Helper()
	cfg := testConfig(t)
	writeScen(t, cfg, "freeze.toml", render(t, scen{Name: "freeze", Duration: "300ms", PID: 2}))
	cfg.API.Listen = freeAddr(t)
	cfg.API.TokenFile = filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(cfg.API.TokenFile, []byte("ui-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.UI.Enabled = enabled
	logs := &syncBuffer{mu: make(chanMutex, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := New(ctx, cfg, Options{Log: zerolog.New(logs), Catalog: builtin.InProcess{}, UI: f})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() { done <- d.Serve(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("daemon did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("daemon did not stop")
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs)
		}
	})
	c, err := api.NewClient(api.ClientOptions{Socket: cfg.API.Socket})
	if err != nil {
		t.Fatal(err)
	}
	return UIDaemon{Addr: "http://" + cfg.API.Listen, Token: "ui-s3cret", Client: c}
}

func TestScenarioDetail(t *testing.T) {
	ud := StartUIDaemon(t, false, nil)
	sd, err := ud.Client.Scenario(context.Background(), "freeze")
	if err != nil {
		t.Fatal(err)
	}
	want := string(render(t, scen{Name: "freeze", Duration: "300ms", PID: 2}))
	if sd.Name != "freeze" || sd.Content != want || sd.Concurrency == "" {
		t.Errorf("scenario %+v", sd)
	}
	if _, err := ud.Client.Scenario(context.Background(), "nope"); apiStatus(err) != http.StatusNotFound {
		t.Errorf("unknown scenario: %v (status %d), want 404", err, apiStatus(err))
	}
}

func get(t *testing.T, url, bearer string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestUIOnlyWhenEnabled: /ui/ is the dashboard (its own authentication)
// only with [ui] enabled; the API keeps requiring the bearer token.
func TestUIOnlyWhenEnabled(t *testing.T) {
	stub := func(m UIMount) (http.Handler, error) {
		if m.API == nil || m.Prefix != "/ui" || string(m.Token) != "ui-s3cret" || m.Secure {
			t.Errorf("mount %+v", m)
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(http.StatusTeapot)
		}), nil
	}
	off := StartUIDaemon(t, false, stub)
	if got := get(t, off.Addr+"/ui/", off.Token); got != http.StatusNotFound {
		t.Errorf("[ui] off: /ui/ got %d, want 404", got)
	}
	on := StartUIDaemon(t, true, stub)
	for _, c := range []struct {
		path, bearer string
		want         int
	}{
		{"/ui/", "", http.StatusTeapot},
		{"/ui/", on.Token, http.StatusTeapot},
		{"/v1/status", "", http.StatusUnauthorized},
		{"/v1/status", on.Token, http.StatusOK},
		{"/uix", on.Token, http.StatusNotFound},
	} {
		if got := get(t, on.Addr+c.path, c.bearer); got != c.want {
			t.Errorf("GET %s (bearer %q): %d, want %d", c.path, c.bearer, got, c.want)
		}
	}
}
