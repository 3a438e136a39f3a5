// Package daemon is `chaosctl daemon`: it loads scenarios from directories,
// runs them on their schedules, serves the HTTP/JSON API, keeps every run
// in its store and reverts, on start, every fault a previous process left
// behind.
package daemon

import (
	"encoding"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/internal/stricttoml"
	"github.com/chaosctl/chaosctl/notify"
	"github.com/chaosctl/chaosctl/scenarios"
)

// ErrConfig is the cause of every configuration error.
var ErrConfig = errors.New("invalid daemon config")

// Config is the daemon's TOML configuration. Every key is optional.
type Config struct {
	ScenarioDirs []string `toml:"scenario_dirs"`
	PluginDir    string   `toml:"plugin_dir"`
	// PluginChecksums lists, in sha256sum format, the third-party plugins
	// allowed to run; default PLUGIN_DIR/SHA256SUMS. Keep it where plugin
	// authors cannot write.
	PluginChecksums string   `toml:"plugin_checksums"`
	Store           string   `toml:"store"`
	LogLevel        string   `toml:"log_level"`
	API             API      `toml:"api"`
	Defaults        Defaults `toml:"defaults"`
	Policy          Policy   `toml:"policy"`
	// Notify is where every run's notifications go (webhooks, Grafana
	// annotations, Slack); read at start, a change needs a restart.
	Notify notify.Config `toml:"notify"`
	// UI serves the dashboard under /ui/ on the TCP listener.
	UI UI `toml:"ui"`
	// Agent makes the daemon a node agent (see AgentConfig).
	Agent AgentConfig `toml:"agent"`

	Path string `toml:"-"` // file it was read from; "" for the defaults
}

// API is where the API listens.
type API struct {
	Socket     string `toml:"socket"`      // unix socket path; "" disables it (then listen is required)
	SocketMode string `toml:"socket_mode"` // octal, default "0660"
	Listen     string `toml:"listen"`      // TCP address; needs token_file
	TokenFile  string `toml:"token_file"`  // bearer token for TCP clients
	TLSCert    string `toml:"tls_cert"`    // with tls_key: serve TCP over TLS
	TLSKey     string `toml:"tls_key"`

	// Bounds on what one client may hold, per listener.
	MaxConnections    int      `toml:"max_connections"`     // connections served at once; more wait; default 64
	ReadHeaderTimeout Duration `toml:"read_header_timeout"` // a request's line and headers; default 10s
	BodyTimeout       Duration `toml:"body_timeout"`        // a request's body; default 30s, then 408
	IdleTimeout       Duration `toml:"idle_timeout"`        // a kept-alive connection between requests; default 2m
	WriteTimeout      Duration `toml:"write_timeout"`       // each write of a response; event streams renew it; default 30s
}

// UI is the [ui] table: the game-day dashboard served by the daemon
// itself, under /ui/ on its TCP listener, behind a login form that takes
// the API's bearer token. It reaches the API through the daemon's own unix
// socket.
type UI struct {
	Enabled bool `toml:"enabled"`
}

// Policy is what the daemon enforces whatever a scenario says.
type Policy struct {
	// MaxTargets caps every run's safety.max_targets; 0: no cap beyond
	// the scenario's own.
	MaxTargets int `toml:"max_targets"`
	// AllowCommands false refuses (403) scenarios uploaded through the API
	// that have cmd probes or runbook command steps: only scenarios from
	// the scenario directories may then run commands. Default true.
	AllowCommands bool `toml:"allow_commands"`
}

// Defaults are limits that apply to every run.
type Defaults struct {
	MaxConcurrentRuns int      `toml:"max_concurrent_runs"` // default 4
	HistoryLimit      int      `toml:"history_limit"`       // finished runs kept, default 1000
	RevertTimeout     Duration `toml:"revert_timeout"`      // per revert, default 30s
	StoreLockTimeout  Duration `toml:"store_lock_timeout"`  // default 2s
}

// loopback reports whether a host:port listens only on this machine.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && api.Loopback(host)
}

// Duration is a Go duration string in TOML ("30s").
type Duration = scenarios.Duration

// DefaultStore is $XDG_STATE_HOME/chaosctl/chaosctl.db, else
// ~/.local/state/chaosctl/chaosctl.db.
func DefaultStore() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "chaosctl", "chaosctl.db")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "chaosctl", "chaosctl.db")
	}
	return "/var/lib/chaosctl/chaosctl.db"
}

// DefaultConfig is what the daemon runs with when there is no config file.
func DefaultConfig() Config {
	return Config{
		ScenarioDirs: []string{"/etc/chaosctl/scenarios", "./scenarios"},
		PluginDir:    "/usr/lib/chaosctl/plugins",
		Store:        DefaultStore(),
		LogLevel:     "info",
		API: API{
			Socket: api.DefaultSocket(), SocketMode: "0660",
			MaxConnections:    64,
			ReadHeaderTimeout: Duration{Duration: 10 * time.Second},
			BodyTimeout:       Duration{Duration: 30 * time.Second},
			IdleTimeout:       Duration{Duration: 2 * time.Minute},
			WriteTimeout:      Duration{Duration: 30 * time.Second},
		},
		Defaults: Defaults{
			MaxConcurrentRuns: 4,
			HistoryLimit:      1000,
			RevertTimeout:     Duration{Duration: 30 * time.Second},
			StoreLockTimeout:  Duration{Duration: 2 * time.Second},
		},
		Policy: Policy{AllowCommands: true},
	}
}

// tomlKey is a Config field's key, "" for a field the file does not set.
func tomlKey(f reflect.StructField) string {
	tag := strings.Split(f.Tag.Get("toml"), ",")[0]
	if tag == "-" {
		return ""
	}
	return tag
}

// isTable reports whether a Config field is a TOML table of keys (and not
// a value such as a Duration).
func isTable(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

// configKeys is every key path Config accepts, spelled exactly.
func configKeys() map[string]bool {
	out := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			tag := tomlKey(t.Field(i))
			if tag == "" {
				continue
			}
			out[prefix+tag] = true
			if ft := t.Field(i).Type; isTable(ft) {
				walk(ft, prefix+tag+".")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return out
}

// LoadConfig reads path over the defaults, strictly: unknown keys and bad
// values are errors as `file:line:col: key: message`. Relative paths in
// the file are taken relative to the file's directory.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	if path == "" {
		var errs []error
		for _, e := range cfg.check() {
			errs = append(errs, fmt.Errorf("%s: %s", e.key, e.msg))
		}
		if len(errs) > 0 {
			return cfg, fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
		}
		return cfg, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cfg.Path = path
	doc, err := stricttoml.Parse(path, data)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) && pe.LastKey != "" {
			var e *stricttoml.Error
			if errors.As(err, &e) {
				e.Field = pe.LastKey
			}
		}
		return cfg, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var perrs, valueErrs stricttoml.ErrorList
	unknown := map[string]bool{}
	dec := &stricttoml.Decoder{Doc: doc, Fold: true, Report: func(key string, err error) {
		var (
			uk *stricttoml.UnknownKeyError
			te *stricttoml.TypeError
		)
		switch {
		case errors.As(err, &uk):
			// BurntSushi matches keys regardless of case; the config's
			// keys are exact, as a scenario's are.
			msg := "unknown key"
			if uk.Folded != "" {
				msg = fmt.Sprintf("unknown key: keys are case-sensitive, did you mean %q?", strings.ToLower(key))
			}
			unknown[key] = true
			perrs = append(perrs, doc.At(key, msg))
		case errors.As(err, &te):
			valueErrs = append(valueErrs, doc.At(key, fmt.Sprintf("want %s, got %s", burntWant(te.Want), burntGot(te.Got))))
		default:
			valueErrs = append(valueErrs, doc.At(key, err.Error()))
		}
	}}
	dec.Fields(doc.Top, reflect.ValueOf(&cfg).Elem(), "")
	dec.Undecoded(func(key string) bool { return unknown[key] })
	if len(valueErrs) > 0 {
		// A value that does not decode stops the load, as it stops
		// BurntSushi's: report the first.
		valueErrs.Sort()
		return cfg, fmt.Errorf("%w: %w", ErrConfig, valueErrs[0])
	}
	dir := filepath.Dir(path)
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for i := range cfg.ScenarioDirs {
		abs(&cfg.ScenarioDirs[i])
	}
	for _, p := range []*string{&cfg.PluginDir, &cfg.PluginChecksums, &cfg.Store, &cfg.API.Socket, &cfg.API.TokenFile, &cfg.API.TLSCert, &cfg.API.TLSKey, &cfg.Notify.Grafana.TokenFile} {
		abs(p)
	}
	for _, e := range cfg.check() {
		perrs = append(perrs, doc.At(e.key, e.msg))
	}
	if len(perrs) > 0 {
		perrs.Sort()
		return cfg, fmt.Errorf("%w:\n%w", ErrConfig, perrs)
	}
	return cfg, nil
}

// SocketFileMode parses api.socket_mode.
func (c Config) SocketFileMode() os.FileMode {
	m, err := strconv.ParseUint(c.API.SocketMode, 8, 32)
	if err != nil {
		return 0o660
	}
	return os.FileMode(m)
}

type keyErr struct{ key, msg string }

// check returns what is wrong with c, key by key.
func (c Config) check() []keyErr {
	var errs []keyErr
	bad := func(key, format string, args ...any) {
		errs = append(errs, keyErr{key, fmt.Sprintf(format, args...)})
	}
	if m, err := strconv.ParseUint(c.API.SocketMode, 8, 32); err != nil || m > 0o777 {
		bad("api.socket_mode", "%q is not an octal file mode such as \"0660\"", c.API.SocketMode)
	}
	if c.API.Socket == "" && c.API.Listen == "" {
		bad("api.socket", "set socket or listen: the API must listen somewhere")
	}
	if c.API.Listen != "" && c.API.TokenFile == "" {
		bad("api.listen", "TCP needs a bearer token: set api.token_file")
	}
	if c.API.Listen != "" && c.API.TLSCert == "" && !loopback(c.API.Listen) {
		bad("api.listen", "%q is not a loopback address: set tls_cert and tls_key, or the bearer token (and API access, which runs scenario commands as the daemon's user) would cross the network in clear text", c.API.Listen)
	}
	if (c.API.TLSCert == "") != (c.API.TLSKey == "") {
		bad("api.tls_cert", "set both tls_cert and tls_key, or neither")
	}
	if c.API.TLSCert != "" && c.API.Listen == "" {
		bad("api.tls_cert", "TLS applies to the TCP listener: set api.listen")
	}
	if c.Agent.Enabled && c.API.Listen == "" {
		bad("agent.enabled", "a node agent answers its controllers over TCP: set api.listen (and api.token_file; tls_cert and tls_key off loopback)")
	}
	if c.Agent.Enabled && c.UI.Enabled {
		bad("ui.enabled", "a node agent serves only the agent's API on its TCP listener: no dashboard")
	}
	if c.UI.Enabled && c.API.Listen == "" {
		bad("ui.enabled", "the dashboard is served on the TCP listener (a browser cannot reach a unix socket): set api.listen")
	}
	if c.UI.Enabled && c.API.Socket == "" {
		bad("ui.enabled", "the dashboard reaches the API through the unix socket: set api.socket")
	}
	if c.API.MaxConnections < 1 {
		bad("api.max_connections", "must be at least 1, got %d", c.API.MaxConnections)
	}
	for _, t := range []struct {
		key string
		d   Duration
	}{
		{"api.read_header_timeout", c.API.ReadHeaderTimeout}, {"api.body_timeout", c.API.BodyTimeout},
		{"api.idle_timeout", c.API.IdleTimeout}, {"api.write_timeout", c.API.WriteTimeout},
	} {
		if t.d.Duration <= 0 {
			bad(t.key, "must be > 0")
		}
	}
	if c.Store == "" {
		bad("store", "required")
	}
	if c.Defaults.MaxConcurrentRuns < 1 {
		bad("defaults.max_concurrent_runs", "must be at least 1, got %d", c.Defaults.MaxConcurrentRuns)
	}
	if c.Defaults.HistoryLimit < 1 {
		bad("defaults.history_limit", "must be at least 1, got %d", c.Defaults.HistoryLimit)
	}
	if c.Defaults.RevertTimeout.Duration <= 0 {
		bad("defaults.revert_timeout", "must be > 0")
	}
	if c.Defaults.StoreLockTimeout.Duration <= 0 {
		bad("defaults.store_lock_timeout", "must be > 0")
	}
	if c.Policy.MaxTargets < 0 {
		bad("policy.max_targets", "must be at least 0 (0: no cap beyond the scenario's), got %d", c.Policy.MaxTargets)
	}
	for _, e := range c.Notify.Check("notify") {
		bad(e.Key, "%s", e.Msg)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	return errs
}

// burntWant names a Go type the way BurntSushi's type errors do.
func burntWant(t reflect.Type) string {
	switch k := t.Kind(); {
	case reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()):
		return "primitive (string-like)"
	case k == reflect.Pointer:
		return burntWant(t.Elem())
	case k >= reflect.Int && k <= reflect.Uint64:
		return "integer"
	case k == reflect.Float32 || k == reflect.Float64:
		return "float"
	case k == reflect.String:
		return "string"
	case k == reflect.Bool:
		return "boolean"
	case k == reflect.Slice || k == reflect.Array:
		return "slice"
	case k == reflect.Map || k == reflect.Struct:
		return "map"
	}
	return t.String()
}

// burntGot names the Go type of a TOML value the way BurntSushi's type
// errors do.
func burntGot(v any) string {
	return strings.ReplaceAll(fmt.Sprintf("%T", v), "interface {}", "any")
}
