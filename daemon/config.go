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
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

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
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Duration is a Go duration string in TOML ("30s").
type Duration = scenarios.Duration

// DefaultSocket is where the daemon listens and where clients look for it:
// $CHAOSCTL_SOCKET, else $XDG_RUNTIME_DIR/chaosctl.sock, else
// /run/chaosctl/chaosctl.sock.
func DefaultSocket() string {
	if s := os.Getenv("CHAOSCTL_SOCKET"); s != "" {
		return s
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "chaosctl.sock")
	}
	return "/run/chaosctl/chaosctl.sock"
}

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
		API:          API{Socket: DefaultSocket(), SocketMode: "0660"},
		Defaults: Defaults{
			MaxConcurrentRuns: 4,
			HistoryLimit:      1000,
			RevertTimeout:     Duration{Duration: 30 * time.Second},
			StoreLockTimeout:  Duration{Duration: 2 * time.Second},
		},
	}
}

// configKeys is every key path Config accepts, spelled exactly.
func configKeys() map[string]bool {
	out := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			tag := strings.Split(t.Field(i).Tag.Get("toml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			out[prefix+tag] = true
			ft := t.Field(i).Type
			if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
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
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			key := ""
			if pe.LastKey != "" {
				key = pe.LastKey + ": "
			}
			return cfg, fmt.Errorf("%w: %s:%d:%d: %s%s", ErrConfig, path, max(pe.Position.Line, 1), max(pe.Position.Col, 1), key, pe.Message)
		}
		if m := typeErrRe.FindStringSubmatch(err.Error()); m != nil {
			line, col := keyPos(data, toml.Key(strings.Split(m[1], ".")))
			return cfg, fmt.Errorf("%w: %s:%d:%d: %s: want %s, got %s", ErrConfig, path, line, col, m[1], m[3], m[2])
		}
		return cfg, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	type posErr struct {
		line, col int
		msg       string
	}
	var perrs []posErr
	for _, k := range md.Undecoded() {
		line, col := keyPos(data, k)
		perrs = append(perrs, posErr{line, col, fmt.Sprintf("%s:%d:%d: %s: unknown key", path, line, col, k.String())})
	}
	// BurntSushi matches keys regardless of case; the config's keys are
	// exact, as a scenario's are.
	known := configKeys()
	for _, k := range md.Keys() {
		name := strings.Join(k, ".")
		if known[name] || !md.IsDefined(k...) {
			continue
		}
		line, col := keyPos(data, k)
		msg := "unknown key (keys are lower case)"
		if known[strings.ToLower(name)] {
			msg = fmt.Sprintf("unknown key: keys are case-sensitive, did you mean %q?", strings.ToLower(name))
		}
		perrs = append(perrs, posErr{line, col, fmt.Sprintf("%s:%d:%d: %s: %s", path, line, col, name, msg)})
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
	for _, p := range []*string{&cfg.PluginDir, &cfg.PluginChecksums, &cfg.Store, &cfg.API.Socket, &cfg.API.TokenFile, &cfg.API.TLSCert, &cfg.API.TLSKey} {
		abs(p)
	}
	for _, e := range cfg.check() {
		line, col := keyPos(data, toml.Key(strings.Split(e.key, ".")))
		perrs = append(perrs, posErr{line, col, fmt.Sprintf("%s:%d:%d: %s: %s", path, line, col, e.key, e.msg)})
	}
	sort.SliceStable(perrs, func(i, j int) bool {
		return perrs[i].line < perrs[j].line || perrs[i].line == perrs[j].line && perrs[i].col < perrs[j].col
	})
	var errs []error
	for _, e := range perrs {
		errs = append(errs, errors.New(e.msg))
	}
	if len(errs) > 0 {
		return cfg, fmt.Errorf("%w:\n%w", ErrConfig, errors.Join(errs...))
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
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	return errs
}

var typeErrRe = regexp.MustCompile(`last key "([^"]+)"\): incompatible types: TOML value has type (\w+); destination has type (\w+)`)

// keyPos finds where key stands in a TOML file, or the header of its
// nearest enclosing table; 1:1 when it cannot be found.
func keyPos(data []byte, key toml.Key) (int, int) {
	p := scenarios.KeyIndex(data).Lookup(strings.Join(key, "."))
	return p.Line, p.Col
}
