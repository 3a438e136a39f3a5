// Package host runs fault plugins as child processes over the gRPC contract
// in package plugins: built-ins by re-executing chaosctl itself in its
// plugin-serve mode, third-party plugins (chaosctl-plugin-NAME in a plugin
// directory) only when their sha256 matches a configured checksum. Each
// plugin dies with its host (Pdeathsig); a plugin that dies mid-fault is
// relaunched and the fault reverted from its revert data at once.
package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/plugins"
)

// ExternalPrefix starts the file name of every third-party plugin.
const ExternalPrefix = "chaosctl-plugin-"

// ErrClosed is returned by a closed catalog.
var ErrClosed = errors.New("plugin catalog closed")

// Config says which plugins a Catalog runs and how.
type Config struct {
	Log zerolog.Logger
	// Builtins are the plugins served by Self (see builtin.Names).
	Builtins []string
	// Self is the executable that serves built-ins; "": os.Executable().
	Self string
	// ServeArgs are the arguments that make Self serve the built-in name;
	// nil: "plugin serve NAME".
	ServeArgs func(name string) []string
	// Dir holds third-party plugins, executables named chaosctl-plugin-NAME.
	Dir string
	// Checksums is a file in sha256sum format listing the third-party
	// plugins allowed to run. Keep it where plugin authors cannot write.
	Checksums string
	// RevertTimeout bounds a revert after a plugin crash. Default 30s.
	RevertTimeout time.Duration
	// StartTimeout bounds a plugin's handshake. Default 10s.
	StartTimeout time.Duration
	// CallTimeout bounds a call that should answer at once (Describe,
	// Validate, Targets, Prepare, Status). A plugin that does not answer in
	// time is killed, and is relaunched by the next call. Default 30s.
	CallTimeout time.Duration
	// OnCrash, when set, is called with the plugin's name each time one of
	// its processes dies without being asked to (a daemon counts these).
	OnCrash func(plugin string)
	// TempDir is where the catalog makes the private directory its plugins
	// put their unix sockets in; "": os.TempDir().
	TempDir string
}

// DefaultDir is ~/.config/chaosctl/plugins (honouring $XDG_CONFIG_HOME).
func DefaultDir() string {
	d, err := os.UserConfigDir()
	if err != nil {
		d = filepath.Join(os.TempDir(), "chaosctl-config")
	}
	return filepath.Join(d, "chaosctl", "plugins")
}

// Catalog is a plugins.Catalog of plugin processes. Lookup launches a
// plugin the first time it is asked for; Close kills them all.
type Catalog struct {
	cfg     Config
	mu      sync.Mutex
	remotes map[string]*Remote
	closed  bool

	dirMu     sync.Mutex
	sockDir   string // see socketDir
	dirClosed bool
}

var _ plugins.Catalog = (*Catalog)(nil)

// New returns a catalog; it launches nothing until Lookup.
func New(cfg Config) *Catalog {
	if cfg.Self == "" {
		if exe, err := os.Executable(); err == nil {
			cfg.Self = exe
		}
	}
	if cfg.ServeArgs == nil {
		cfg.ServeArgs = func(name string) []string { return []string{"plugin", "serve", name} }
	}
	if cfg.RevertTimeout <= 0 {
		cfg.RevertTimeout = 30 * time.Second
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 10 * time.Second
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	return &Catalog{cfg: cfg, remotes: map[string]*Remote{}}
}

// Names lists built-in and third-party plugins, sorted. A third-party
// plugin is listed whether or not its checksum is right: Lookup refuses it.
func (c *Catalog) Names() []string {
	names := slices.Clone(c.cfg.Builtins)
	for _, n := range c.externals() {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// externals are the NAMEs of chaosctl-plugin-NAME files in Dir.
func (c *Catalog) externals() []string { return c.named(ExternalPrefix) }

// named is the NAMEs of the PREFIX-NAME files in Dir, in directory order.
func (c *Catalog) named(prefix string) []string {
	if c.cfg.Dir == "" {
		return nil
	}
	ents, err := os.ReadDir(c.cfg.Dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutPrefix(e.Name(), prefix); ok && n != "" && !e.IsDir() {
			out = append(out, n)
		}
	}
	return out
}

// Lookup returns the plugin name, launching its process if it is not
// running. A third-party plugin whose checksum is missing or wrong is
// refused before anything is executed.
func (c *Catalog) Lookup(ctx context.Context, name string) (plugins.Fault, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	r, ok := c.remotes[name]
	if !ok {
		var err error
		if r, err = c.newRemote(name); err != nil {
			c.mu.Unlock()
			return nil, err
		}
		c.remotes[name] = r
	}
	c.mu.Unlock()
	if _, err := r.get(ctx); err != nil {
		return nil, fmt.Errorf("plugin %s: %w", name, err)
	}
	return r, nil
}

func (c *Catalog) newRemote(name string) (*Remote, error) {
	r := &Remote{name: name, cat: c, log: c.cfg.Log.With().Str("plugin", name).Logger()}
	if slices.Contains(c.cfg.Builtins, name) {
		if c.cfg.Self == "" {
			return nil, fmt.Errorf("plugin %s: cannot find the chaosctl executable to serve it", name)
		}
		r.path, r.args = c.cfg.Self, c.cfg.ServeArgs(name)
		return r, nil
	}
	path := filepath.Join(c.cfg.Dir, ExternalPrefix+name)
	if c.cfg.Dir == "" || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("%w %q (known: %s)", plugins.ErrUnknownPlugin, name, strings.Join(c.Names(), ", "))
	}
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		return nil, fmt.Errorf("%w %q (known: %s; third-party plugins are %s* files in %s)",
			plugins.ErrUnknownPlugin, name, strings.Join(c.Names(), ", "), ExternalPrefix, c.cfg.Dir)
	}
	sum, err := verify(path, c.cfg.Checksums)
	if err != nil {
		return nil, err
	}
	r.path, r.sha256 = path, sum
	return r, nil
}

// Close kills every plugin process. Faults should be reverted first.
func (c *Catalog) Close() error {
	c.mu.Lock()
	c.closed = true
	rs := make([]*Remote, 0, len(c.remotes))
	for _, r := range c.remotes {
		rs = append(rs, r)
	}
	c.mu.Unlock()
	for _, r := range rs {
		r.close()
	}
	c.dirMu.Lock()
	defer c.dirMu.Unlock()
	c.dirClosed = true
	if c.sockDir == "" {
		return nil
	}
	if err := os.RemoveAll(c.sockDir); err != nil {
		return fmt.Errorf("remove plugin socket directory: %w", err)
	}
	return nil
}

// socketDir is the directory every plugin of the catalog makes its unix
// socket in: only chaosctl's user may enter it, whatever the umask, so no
// other user can connect to a plugin and call Inject. go-plugin would
// otherwise use $TMPDIR, with the socket's mode left to the umask. It is
// made at the first launch and removed by Close.
func (c *Catalog) socketDir() (string, error) {
	c.dirMu.Lock()
	defer c.dirMu.Unlock()
	if c.dirClosed {
		return "", ErrClosed
	}
	if c.sockDir != "" {
		// Still there and still ours: a /tmp cleaner may have removed it
		// in the months a daemon runs.
		if st, err := os.Lstat(c.sockDir); err == nil && st.IsDir() && st.Mode().Perm() == 0o700 && ownedByUs(st) {
			return c.sockDir, nil
		}
		c.cfg.Log.Warn().Str("dir", c.sockDir).Msg("plugin socket directory gone or changed; making another")
		c.sockDir = ""
	}
	// A host killed with -9 cannot remove its directory: the next one does.
	sweepSocketDirs(c.cfg.TempDir, c.cfg.Log)
	dir, err := os.MkdirTemp(c.cfg.TempDir, fmt.Sprintf("%s%d-", sockDirPrefix, os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("plugin socket directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.Remove(dir)
		return "", fmt.Errorf("plugin socket directory: %w", err)
	}
	c.sockDir = dir
	return dir, nil
}

// sockDirPrefix starts the name of a catalog's socket directory, followed
// by the pid of the chaosctl that made it.
const sockDirPrefix = "chaosctl-plugins-"

// sweepSocketDirs removes the socket directories in base (os.TempDir when
// "") of chaosctl processes that no longer exist. Only the directories of
// chaosctl's own user are touched; one whose process lives (or may: the
// kernel does not say) is kept.
func sweepSocketDirs(base string, log zerolog.Logger) {
	if base == "" {
		base = os.TempDir()
	}
	dirs, _ := filepath.Glob(filepath.Join(base, sockDirPrefix+"*-*"))
	for _, dir := range dirs {
		pidText, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(dir), sockDirPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		st, err := os.Lstat(dir)
		if err != nil || !st.IsDir() {
			continue
		}
		if !ownedByUs(st) {
			continue
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			log.Warn().Err(err).Str("dir", dir).Msg("stale plugin socket directory not removed")
		}
	}
}

func ownedByUs(st os.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Geteuid()
}

// pluginEnv is chaosctl's environment for a plugin, with its socket
// directory.
func pluginEnv(sockDir string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, goplugin.EnvUnixSocketDir+"=") })
	return append(env, goplugin.EnvUnixSocketDir+"="+sockDir)
}

// Info is one plugin as `chaosctl plugins` lists it.
type Info struct {
	Name       string              `json:"name"`
	Source     string              `json:"source"` // "built-in" or "external"
	Path       string              `json:"path,omitempty"`
	SHA256     string              `json:"sha256,omitempty"`
	Descriptor *plugins.Descriptor `json:"descriptor,omitempty"`
	// Probe is a probe plugin's description (Source "external probe").
	Probe *plugins.ProbeDescriptor `json:"probe,omitempty"`
	Error string                   `json:"error,omitempty"` // why it cannot be used
}

// List launches every plugin and asks it to describe itself. A plugin that
// is refused or fails is listed with the reason.
func (c *Catalog) List(ctx context.Context) []Info {
	var out []Info
	for _, n := range c.Names() {
		in := Info{Name: n, Source: "built-in"}
		if !slices.Contains(c.cfg.Builtins, n) {
			in.Source = "external"
			in.Path = filepath.Join(c.cfg.Dir, ExternalPrefix+n)
		}
		f, err := c.Lookup(ctx, n)
		if err == nil {
			var d plugins.Descriptor
			if d, err = f.Describe(ctx); err == nil {
				in.Descriptor = &d
			}
		}
		if err != nil {
			in.Error = err.Error()
		}
		if in.Source == "external" {
			in.SHA256, _ = fileSHA256(in.Path)
		}
		out = append(out, in)
	}
	return out
}

// command builds a plugin process: it gets SIGKILL when its host dies.
func command(path string, args []string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}
