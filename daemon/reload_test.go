package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigDiff(t *testing.T) {
	base := DefaultConfig()
	for _, tc := range []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{"nothing", func(*Config) {}, nil},
		{"scenario dirs", func(c *Config) { c.ScenarioDirs = []string{"/elsewhere"} }, []string{"scenario_dirs"}},
		{"nested and durations", func(c *Config) {
			c.API.SocketMode = "0600"
			c.Defaults.RevertTimeout = Duration{Duration: time.Minute}
			c.Policy.MaxTargets = 3
		}, []string{"api.socket_mode", "defaults.revert_timeout", "policy.max_targets"}},
		{"the file's path is no key", func(c *Config) { c.Path = "/etc/other.toml" }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := DefaultConfig()
			tc.change(&next)
			if got := configDiff(base, next); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	// Every reloadable key names a real key.
	known := configKeys()
	for k := range reloadable {
		if !known[k] {
			t.Errorf("reloadable key %q is not a config key", k)
		}
	}
}

// daemonConfigFile writes a config file for cfg's paths plus extra TOML
// and returns it loaded.
func daemonConfigFile(t *testing.T, path string, cfg Config, dirs []string, extra string) Config {
	t.Helper()
	q := make([]string, len(dirs))
	for i, d := range dirs {
		q[i] = fmt.Sprintf("%q", d)
	}
	body := fmt.Sprintf("scenario_dirs = [%s]\nstore = %q\n%s\n[api]\nsocket = %q\n", strings.Join(q, ", "), cfg.Store, extra, cfg.API.Socket)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return loaded
}

// TestHangupReloadsConfig: a reload applies the reloadable keys (a new
// scenario directory is loaded and watched), names those that need a
// restart and keeps their running values; an invalid file changes nothing.
func TestHangupReloadsConfig(t *testing.T) {
	v := startVictim(t)
	base := testConfig(t)
	file := filepath.Join(filepath.Dir(base.Store), "chaosctl.toml")
	a := base.ScenarioDirs[0]
	b := filepath.Join(filepath.Dir(a), "more") // does not exist yet: not watched
	cfg := daemonConfigFile(t, file, base, []string{a}, "")
	cfg.Defaults.StoreLockTimeout = base.Defaults.StoreLockTimeout
	writeScen(t, cfg, "a.toml", render(t, scen{Name: "a", Duration: "1s", PID: v.pid}))
	td := start(t, cfg)
	ctx := context.Background()
	names := func() string {
		l, err := td.c.Scenarios(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, s := range l.Scenarios {
			n = append(n, s.Name)
		}
		return strings.Join(n, ",")
	}

	if err := os.Mkdir(b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b, "b.toml"), render(t, scen{Name: "b", Duration: "1s", PID: v.pid}), 0o644); err != nil {
		t.Fatal(err)
	}
	daemonConfigFile(t, file, base, []string{a, b}, "[defaults]\nmax_concurrent_runs = 1\nstore_lock_timeout = \"300ms\"\n[policy]\nallow_commands = false")
	// A restart-only key, in its table.
	body, _ := os.ReadFile(file)
	if err := os.WriteFile(file, append(body, "socket_mode = \"0600\"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	td.d.Hangup(ctx)
	if n := names(); n != "a,b" {
		t.Fatalf("scenarios after reload %q, want a,b", n)
	}
	cur := td.d.current()
	if cur.Defaults.MaxConcurrentRuns != 1 || cur.Policy.AllowCommands || cur.API.SocketMode != "0660" {
		t.Errorf("in effect after reload: runs %d, allow_commands %v, socket_mode %s", cur.Defaults.MaxConcurrentRuns, cur.Policy.AllowCommands, cur.API.SocketMode)
	}
	logs := td.logs.String()
	for _, want := range []string{
		`"applied":["scenario_dirs","defaults.max_concurrent_runs","policy.allow_commands"],"message":"config reloaded"`,
		`"need_restart":["api.socket_mode"]`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if st, err := os.Stat(cfg.API.Socket); err != nil || st.Mode().Perm() != 0o660 {
		t.Errorf("socket changed on reload: %v %v", st.Mode(), err)
	}
	// The new directory is watched from now on.
	if err := os.WriteFile(filepath.Join(b, "c.toml"), render(t, scen{Name: "c", Duration: "1s", PID: v.pid}), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "c to be loaded on change", 5*time.Second, func() bool { return names() == "a,b,c" })

	// An invalid file changes nothing.
	if err := os.WriteFile(file, []byte("scenario_dirs = [\"/x\"]\nbogus = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	td.d.Hangup(ctx)
	if n := names(); n != "a,b,c" {
		t.Errorf("scenarios after an invalid config %q", n)
	}
	if !strings.Contains(td.logs.String(), "bogus: unknown key") || !strings.Contains(td.logs.String(), "config not reloaded") {
		t.Errorf("invalid config not logged:\n%s", td.logs)
	}
	if st, err := td.c.Status(ctx); err != nil || st.Scenarios != 3 {
		t.Errorf("daemon after an invalid config: %+v %v", st, err)
	}
}
