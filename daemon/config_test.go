package daemon

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.err golden files")

func TestDefaultConfigIsValid(t *testing.T) {
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.Socket == "" || cfg.Store == "" || len(cfg.ScenarioDirs) == 0 || cfg.SocketFileMode() != 0o660 {
		t.Errorf("defaults %+v", cfg)
	}
	// Without a [policy], the daemon behaves as it did before it had one.
	if cfg.Policy != (Policy{MaxTargets: 0, AllowCommands: true}) {
		t.Errorf("default policy %+v", cfg.Policy)
	}
}

func TestLoadConfigGood(t *testing.T) {
	cfg, err := LoadConfig("testdata/good.toml")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("testdata")
	_ = abs
	if cfg.ScenarioDirs[0] != filepath.Join("testdata", "scenarios") || cfg.Store != filepath.Join("testdata", "state", "chaosctl.db") {
		t.Errorf("relative paths not taken from the file's directory: %v %s", cfg.ScenarioDirs, cfg.Store)
	}
	if cfg.SocketFileMode() != 0o600 || cfg.Defaults.MaxConcurrentRuns != 2 || cfg.Defaults.RevertTimeout.Duration != 10*time.Second ||
		cfg.Defaults.StoreLockTimeout.Duration != 2*time.Second || cfg.API.TokenFile != filepath.Join("testdata", "token") {
		t.Errorf("config %+v", cfg)
	}
	if cfg.API.MaxConnections != 8 || cfg.API.WriteTimeout.Duration != 5*time.Second || cfg.API.IdleTimeout.Duration != 2*time.Minute ||
		cfg.Policy != (Policy{MaxTargets: 3, AllowCommands: false}) {
		t.Errorf("api limits or policy: %+v %+v", cfg.API, cfg.Policy)
	}
}

// TestLoadConfigBad: every error at once, each with file:line:col.
func TestLoadConfigBad(t *testing.T) {
	for _, name := range []string{"bad.toml", "bad-type.toml", "bad-syntax.toml", "bad-listen.toml", "bad-dotted.toml", "bad-case.toml", "bad-policy.toml", "bad-notify.toml", "bad-notify-keys.toml", "bad-notify-type.toml", "bad-ui.toml", "bad-ui-type.toml"} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join("testdata", name)
			_, err := LoadConfig(file)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err %v, want ErrConfig", err)
			}
			golden := file + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("%v (run with -update to create it)", rerr)
			}
			if got := err.Error() + "\n"; got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestContribConfigLoads: the example config shipped in contrib/ is valid.
func TestContribConfigLoads(t *testing.T) {
	if _, err := LoadConfig("../contrib/chaosctl.toml"); err != nil {
		t.Fatal(err)
	}
}

// TestLoadConfigNotify: a [notify] section, with the token file taken
// relative to the config file like every other path.
func TestLoadConfigNotify(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "chaosctl.toml")
	body := `[[notify.webhook]]
url = "http://127.0.0.1:9000/hook"
events = ["start", "verdict"]
[[notify.webhook]]
url = "https://hooks.example/all"
[notify.grafana]
url = "http://127.0.0.1:3000"
token_file = "grafana.token"
[[notify.slack]]
url = "https://hooks.slack.example/services/T/B/X"
`
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Notify
	if len(n.Webhooks) != 2 || n.Webhooks[0].Events[1] != "verdict" || n.Webhooks[1].Events != nil ||
		n.Grafana.TokenFile != filepath.Join(dir, "grafana.token") || len(n.Slack) != 1 || !n.Enabled() {
		t.Errorf("notify %+v", n)
	}
	if d, _ := LoadConfig(""); d.Notify.Enabled() {
		t.Errorf("notifications on by default: %+v", d.Notify)
	}
}
