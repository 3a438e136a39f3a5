package host_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/plugins/builtin"
	"github.com/chaosctl/chaosctl/plugins/host"
)

// The test binary is its own plugin executable, as chaosctl is: run as
// "plugin serve NAME" it serves a built-in (or the sleepy test fault).
func TestMain(m *testing.M) {
	if len(os.Args) == 4 && os.Args[1] == "plugin" && os.Args[2] == "serve" {
		if os.Args[3] == "sleepy" {
			plugins.Serve(sleepy{})
			return
		}
		f, err := builtin.New(os.Args[3])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		plugins.Serve(f)
		return
	}
	os.Exit(m.Run())
}

// sleepy's Inject blocks until its context ends: it proves that the
// caller's deadline crosses the process boundary.
type sleepy struct{}

func (sleepy) Describe(context.Context) (plugins.Descriptor, error) {
	return plugins.Descriptor{Name: "sleepy", Actions: []plugins.Action{{Name: "nap", Reversible: true}}}, nil
}
func (sleepy) Validate(_ context.Context, action string, params, _ plugins.Params) error {
	if action != "nap" {
		return fmt.Errorf("%w %q", plugins.ErrUnknownAction, action)
	}
	var errs []error
	if n, ok := params["n"].(int64); !ok || n > 3 {
		errs = append(errs, &plugins.ValidationError{Field: "params.n", Msg: fmt.Sprintf("want an int64 <= 3, got %T %v", params["n"], params["n"])})
	}
	if f, ok := params["f"].(float64); !ok || f != 2 {
		errs = append(errs, &plugins.ValidationError{Field: "params.f", Msg: fmt.Sprintf("want float64 2, got %T %v", params["f"], params["f"])})
	}
	return errors.Join(errs...)
}
func (sleepy) Targets(_ context.Context, _ string, _ plugins.Params, sel plugins.Params) ([]plugins.Target, error) {
	if sel["hang"] == true {
		select {} // a hung plugin: ignores its context
	}
	return nil, plugins.ErrNoTargets
}
func (sleepy) Inject(ctx context.Context, _ plugins.InjectRequest) ([]byte, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (sleepy) Revert(context.Context, string, []byte) error { return nil }
func (sleepy) Status(context.Context, string, []byte) (plugins.Status, error) {
	return plugins.Status{}, nil
}

func newCatalog(t testing.TB, cfg host.Config) *host.Catalog {
	t.Helper()
	cfg.Log = zerolog.Nop()
	if cfg.Builtins == nil {
		cfg.Builtins = append(builtin.Names(), "sleepy")
	}
	c := host.New(cfg)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestBuiltinRunsInItsOwnProcess(t *testing.T) {
	c := newCatalog(t, host.Config{})
	f, err := c.Lookup(context.Background(), "disk")
	if err != nil {
		t.Fatal(err)
	}
	pid := f.(*host.Remote).PID()
	if pid == 0 || pid == os.Getpid() {
		t.Fatalf("plugin pid %d: not a child process", pid)
	}
	d, err := f.Describe(context.Background())
	if err != nil || d.Name != "disk" {
		t.Fatalf("describe: %+v %v", d, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
}

func TestErrorsAndTypesCrossTheBoundary(t *testing.T) {
	c := newCatalog(t, host.Config{})
	ctx := context.Background()
	f, err := c.Lookup(ctx, "sleepy")
	if err != nil {
		t.Fatal(err)
	}
	// TOML types survive: an int stays int64, a float float64.
	if err := f.Validate(ctx, "nap", plugins.Params{"n": int64(3), "f": float64(2)}, nil); err != nil {
		t.Fatalf("valid params refused: %v", err)
	}
	err = f.Validate(ctx, "nap", plugins.Params{"n": int64(9), "f": float64(2)}, nil)
	var ve *plugins.ValidationError
	if !errors.As(err, &ve) || ve.Field != "params.n" || !errors.Is(err, plugins.ErrInvalidParams) {
		t.Fatalf("validation error lost its type: %#v", err)
	}
	err = f.Validate(ctx, "nap", plugins.Params{"n": int64(9), "f": float64(1)}, nil)
	if j, ok := err.(interface{ Unwrap() []error }); !ok || len(j.Unwrap()) != 2 {
		t.Fatalf("joined validation errors not kept: %#v", err)
	}
	if err := f.Validate(ctx, "dance", nil, nil); !errors.Is(err, plugins.ErrUnknownAction) || !strings.Contains(err.Error(), `"dance"`) {
		t.Fatalf("unknown action: %v", err)
	}
	if _, err := f.Targets(ctx, "nap", nil, nil); !errors.Is(err, plugins.ErrNoTargets) {
		t.Fatalf("no targets: %v", err)
	}
	// The caller's deadline crosses: the plugin's Inject returns when it ends.
	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = f.Inject(dctx, plugins.InjectRequest{Action: "nap"})
	if !errors.Is(err, plugins.ErrCanceled) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("inject past deadline: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("inject took %v after a 200ms deadline", d)
	}
	// So does cancellation.
	cctx, ccancel := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, ccancel)
	if _, err = f.Inject(cctx, plugins.InjectRequest{Action: "nap"}); !errors.Is(err, plugins.ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("inject cancelled: %v", err)
	}
}

func TestShutdownIsASentinel(t *testing.T) {
	c := newCatalog(t, host.Config{})
	ctx := context.Background()
	f, err := c.Lookup(ctx, "sleepy")
	if err != nil {
		t.Fatal(err)
	}
	pid := f.(*host.Remote).PID()
	time.AfterFunc(200*time.Millisecond, func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	_, err = f.Inject(ctx, plugins.InjectRequest{Action: "nap"})
	if !errors.Is(err, plugins.ErrPluginShutdown) {
		t.Fatalf("inject into a killed plugin: %v, want ErrPluginShutdown", err)
	}
	// The next call relaunches it.
	if _, err := f.Describe(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Targets(ctx, "nap", nil, nil); !errors.Is(err, plugins.ErrNoTargets) {
		t.Fatalf("after relaunch: %v", err)
	}
	if np := f.(*host.Remote).PID(); np == pid || np == 0 {
		t.Fatalf("pid %d after relaunch, was %d", np, pid)
	}
}

// TestCrashMidFaultReverts fills a directory through the disk plugin,
// SIGKILLs the plugin process and expects the host to relaunch it and
// delete the fill file from its revert data at once.
func TestCrashMidFaultReverts(t *testing.T) {
	c := newCatalog(t, host.Config{})
	ctx := context.Background()
	f, err := c.Lookup(ctx, "disk")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The temporary directory may be on /, which a fill refuses unless told.
	params := plugins.Params{"size": "4MiB", "method": "auto", "allow_own_filesystem": true}
	ts, err := f.Targets(ctx, "fill", params, plugins.Params{"path": dir})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := f.Inject(ctx, plugins.InjectRequest{Action: "fill", Target: ts[0], Params: params})
	if err != nil {
		t.Fatal(err)
	}
	var data struct{ Path string }
	_ = json.Unmarshal(rd, &data)
	if _, err := os.Stat(data.Path); err != nil {
		t.Fatalf("fill file: %v", err)
	}
	early := f.(plugins.CrashWatcher).Watch("fill", rd)
	pid := f.(*host.Remote).PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case er := <-early:
		for _, w := range []string{fmt.Sprintf("pid %d", pid), "died", "relaunched", "reverted from revert data"} {
			if !strings.Contains(er.Note, w) {
				t.Errorf("note %q lacks %q", er.Note, w)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no early revert 10s after the plugin was killed")
	}
	if _, err := os.Stat(data.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("fill file still there after the crash revert: %v", err)
	}
}

func TestPluginDiesWithHost(t *testing.T) {
	if os.Getenv("HOST_TEST_PARENT") == "1" {
		// Killed, it cannot remove its socket directory: the test's does.
		c := host.New(host.Config{Log: zerolog.Nop(), Builtins: []string{"process"}, TempDir: os.Getenv("HOST_TEST_TMP")})
		f, err := c.Lookup(context.Background(), "process")
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println(f.(*host.Remote).PID())
		select {} // until killed
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPluginDiesWithHost$")
	cmd.Env = append(os.Environ(), "HOST_TEST_PARENT=1", "HOST_TEST_TMP="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil || pid == 0 {
		t.Fatalf("no plugin pid from the host: %v", err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	waitGone(t, pid)
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(b), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d still alive", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// external sets up a plugin dir holding this test binary as
// chaosctl-plugin-NAME, and a checksums file with sum (or the right one).
func external(t *testing.T, name, sum string) host.Config {
	t.Helper()
	return externalAs(t, host.ExternalPrefix, name, sum)
}

// externalAs is external for a file named prefix+NAME: a fault plugin
// (host.ExternalPrefix) or a probe plugin (host.ProbePrefix).
func externalAs(t *testing.T, prefix, name, sum string) host.Config {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, prefix+name)
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if sum == "" {
		h := sha256.Sum256(b)
		sum = hex.EncodeToString(h[:])
	}
	sums := filepath.Join(t.TempDir(), "SHA256SUMS")
	if sum != "none" {
		if err := os.WriteFile(sums, []byte(sum+"  "+prefix+name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The test binary serves "plugin serve NAME"; an external plugin gets
	// no arguments, so point the catalog at the same entry point.
	return host.Config{Builtins: []string{}, Dir: dir, Checksums: sums}
}

// TestExternalChecksums: a third-party plugin, fault or probe, runs only
// with its checksum, and only from files nobody else may rewrite.
func TestExternalChecksums(t *testing.T) {
	bad := strings.Repeat("ab", 32)
	ctx := context.Background()
	kinds := []struct {
		kind, prefix string
		load         func(*host.Catalog) error
	}{
		{"fault", host.ExternalPrefix, func(c *host.Catalog) error { _, err := c.Lookup(ctx, "disk"); return err }},
		{"probe", host.ProbePrefix, func(c *host.Catalog) error { _, err := c.ProbeKind(ctx, "disk.check"); return err }},
	}
	for _, k := range kinds {
		for _, tc := range []struct {
			name, sum string
			want      error
			msg       []string
		}{
			{"wrong sum", bad, host.ErrChecksumMismatch, []string{"refusing to run", k.prefix + "disk", "expects " + bad, "sha256 is "}},
			{"no sum", "none", host.ErrNoChecksum, []string{"refusing to run", "does not exist"}},
		} {
			t.Run(k.kind+" "+tc.name, func(t *testing.T) {
				cfg := externalAs(t, k.prefix, "disk", tc.sum)
				c := newCatalog(t, cfg)
				if got := c.Names(); k.kind == "fault" && (len(got) != 1 || got[0] != "disk") {
					t.Fatalf("names %v", got)
				}
				err := k.load(c)
				if !errors.Is(err, tc.want) {
					t.Fatalf("load: %v, want %v", err, tc.want)
				}
				for _, m := range tc.msg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("refusal %q lacks %q", err, m)
					}
				}
			})
		}
		// The right sum on a file others may rewrite proves nothing.
		for _, which := range []string{"plugin", "plugin dir", "checksums"} {
			t.Run(k.kind+" writable "+which, func(t *testing.T) {
				cfg := externalAs(t, k.prefix, "disk", "")
				p := map[string]string{"plugin": filepath.Join(cfg.Dir, k.prefix+"disk"), "plugin dir": cfg.Dir, "checksums": cfg.Checksums}[which]
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, st.Mode().Perm()|0o002); err != nil {
					t.Fatal(err)
				}
				err = k.load(newCatalog(t, cfg))
				if !errors.Is(err, host.ErrUnsafePlugin) || !strings.Contains(err.Error(), "writable by its group or others") {
					t.Fatalf("load: %v, want a refusal of the writable %s", err, which)
				}
			})
		}
	}
	t.Run("unknown plugin", func(t *testing.T) {
		c := newCatalog(t, external(t, "disk", ""))
		if _, err := c.Lookup(ctx, "nope"); !errors.Is(err, plugins.ErrUnknownPlugin) {
			t.Fatalf("lookup: %v", err)
		}
		if _, err := c.ProbeKind(ctx, "nope.check"); !errors.Is(err, plugins.ErrUnknownPlugin) {
			t.Fatalf("probe kind: %v", err)
		}
	})
}

// TestExternalWithRightChecksumRuns launches the test binary as a
// third-party plugin (it serves the disk fault when given no arguments
// via SERVE_AS, see init below).
func TestExternalWithRightChecksumRuns(t *testing.T) {
	cfg := external(t, "disk", "")
	t.Setenv("HOST_TEST_SERVE_AS", "disk")
	c := newCatalog(t, cfg)
	f, err := c.Lookup(context.Background(), "disk")
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.Describe(context.Background())
	if err != nil || d.Name != "disk" {
		t.Fatalf("describe: %+v %v", d, err)
	}
	list := c.List(context.Background())
	if len(list) != 1 || list[0].Source != "external" || list[0].Descriptor == nil || list[0].SHA256 == "" {
		t.Fatalf("list: %+v", list)
	}
}

func init() {
	// An external plugin is started with no arguments.
	if name := os.Getenv("HOST_TEST_SERVE_AS"); name != "" && len(os.Args) == 1 &&
		os.Getenv(plugins.Handshake.MagicCookieKey) == plugins.Handshake.MagicCookieValue {
		f, err := builtin.New(name)
		if err != nil {
			os.Exit(2)
		}
		plugins.Serve(f)
		os.Exit(0)
	}
}

// BenchmarkPluginStart is the handshake: fork/exec of a real chaosctl
// binary as a plugin process until its gRPC client answers Describe. It
// reports p50 and p95 over the launches.
func BenchmarkPluginStart(b *testing.B) {
	self := filepath.Join(b.TempDir(), "chaosctl")
	build := exec.Command("go", "build", "-o", self, "github.com/chaosctl/chaosctl/cmd/chaosctl")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build chaosctl: %v\n%s", err, out)
	}
	n := max(b.N, 30)
	var ds []time.Duration
	for range n {
		c := host.New(host.Config{Log: zerolog.Nop(), Builtins: []string{"process"}, Self: self})
		start := time.Now()
		f, err := c.Lookup(context.Background(), "process")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Describe(context.Background()); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
		_ = c.Close()
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(ds[len(ds)*95/100].Microseconds())/1000, "p95-ms")
	b.ReportMetric(float64(n), "launches")
}

// TestPrepareCrossesTheBoundary: a plugin that prepares names its revert
// data before injecting, and Inject honours it; one that does not prepare
// answers nil without an error.
func TestPrepareCrossesTheBoundary(t *testing.T) {
	c := newCatalog(t, host.Config{})
	ctx := context.Background()
	f, err := c.Lookup(ctx, "disk")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The temporary directory may be on /, which a fill refuses unless told.
	params := plugins.Params{"size": "1MiB", "method": "auto", "allow_own_filesystem": true}
	ts, err := f.Targets(ctx, "fill", params, plugins.Params{"path": dir})
	if err != nil {
		t.Fatal(err)
	}
	req := plugins.InjectRequest{Action: "fill", Target: ts[0], Params: params}
	prepared, err := f.(plugins.Preparer).Prepare(ctx, req)
	if err != nil || len(prepared) == 0 {
		t.Fatalf("prepare: %q %v", prepared, err)
	}
	var want struct{ Path string }
	if err := json.Unmarshal(prepared, &want); err != nil || filepath.Dir(want.Path) != dir {
		t.Fatalf("prepared revert data %s names no fill file in %s", prepared, dir)
	}
	// Reverting before the injection is harmless.
	if err := f.Revert(ctx, "fill", prepared); err != nil {
		t.Fatalf("revert of a fault never injected: %v", err)
	}
	req.Prepared = prepared
	if _, err := f.Inject(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(want.Path); err != nil {
		t.Fatalf("Inject did not use the prepared file name: %v", err)
	}
	if err := f.Revert(ctx, "fill", prepared); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(want.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("prepared revert data did not remove the fill file: %v", err)
	}

	s, err := c.Lookup(ctx, "sleepy")
	if err != nil {
		t.Fatal(err)
	}
	if rd, err := s.(plugins.Preparer).Prepare(ctx, plugins.InjectRequest{Action: "nap"}); rd != nil || err != nil {
		t.Fatalf("a plugin that does not prepare: %q %v, want nil nil", rd, err)
	}
}

// TestHungPluginIsKilled: a call that should answer at once is bounded; a
// plugin that hangs is killed and the next call relaunches it.
func TestHungPluginIsKilled(t *testing.T) {
	c := newCatalog(t, host.Config{CallTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	f, err := c.Lookup(ctx, "sleepy")
	if err != nil {
		t.Fatal(err)
	}
	pid := f.(*host.Remote).PID()
	start := time.Now()
	_, err = f.Targets(ctx, "nap", nil, plugins.Params{"hang": true})
	if err == nil || !strings.Contains(err.Error(), "did not answer Targets") {
		t.Fatalf("err = %v, want a timeout naming the call", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the hung call took %v", d)
	}
	waitGone(t, pid)
	if _, err := f.Targets(ctx, "nap", nil, plugins.Params{}); !errors.Is(err, plugins.ErrNoTargets) {
		t.Fatalf("after the kill: %v, want the relaunched plugin's answer", err)
	}
	if f.(*host.Remote).PID() == pid {
		t.Fatal("not relaunched")
	}
}

// TestPluginSocketsArePrivate: a plugin's unix socket is in a directory
// only chaosctl's user may enter, whatever the environment says, and the
// directory goes with the catalog.
func TestPluginSocketsArePrivate(t *testing.T) {
	base, elsewhere := t.TempDir(), t.TempDir()
	t.Setenv("PLUGIN_UNIX_SOCKET_DIR", elsewhere) // overridden, never inherited
	c := newCatalog(t, host.Config{TempDir: base})
	if _, err := c.Lookup(context.Background(), "disk"); err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob(filepath.Join(base, "chaosctl-plugins-*"))
	if len(dirs) != 1 {
		t.Fatalf("socket directories in %s: %v, want one", base, dirs)
	}
	st, err := os.Stat(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 || int(st.Sys().(*syscall.Stat_t).Uid) != os.Geteuid() {
		t.Errorf("%s: mode %s uid %d, want 0700 and ours", dirs[0], st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Uid)
	}
	ents, _ := os.ReadDir(dirs[0])
	if len(ents) != 1 || ents[0].Type()&os.ModeSocket == 0 {
		t.Errorf("%s holds %v, want the plugin's socket", dirs[0], ents)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("the plugin used the inherited PLUGIN_UNIX_SOCKET_DIR: %v", ents)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dirs[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket directory left after Close: %v", err)
	}
}

// TestSocketDirsOfDeadHostsAreSwept: a host killed with -9 leaves its
// socket directory; the next catalog removes it, and no one else's.
func TestSocketDirsOfDeadHostsAreSwept(t *testing.T) {
	base := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	keep := []string{
		fmt.Sprintf("chaosctl-plugins-%d-1", os.Getppid()), // its host lives
		"chaosctl-plugins-123",                             // not a name the catalog makes
		"other-1-2",
	}
	gone := fmt.Sprintf("chaosctl-plugins-%d-7", dead.Process.Pid)
	for _, n := range append([]string{gone}, keep...) {
		if err := os.Mkdir(filepath.Join(base, n), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	c := newCatalog(t, host.Config{TempDir: base})
	if _, err := c.Lookup(context.Background(), "disk"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(base, gone)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dead host's directory is still there: %v", err)
	}
	for _, n := range keep {
		if _, err := os.Stat(filepath.Join(base, n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

// TestSocketDirRemovedUnderARunningHost: a /tmp cleaner that removes the
// directory does not keep a crashed plugin from being relaunched.
func TestSocketDirRemovedUnderARunningHost(t *testing.T) {
	base := t.TempDir()
	c := newCatalog(t, host.Config{TempDir: base})
	ctx := context.Background()
	f, err := c.Lookup(ctx, "disk")
	if err != nil {
		t.Fatal(err)
	}
	mine := fmt.Sprintf("chaosctl-plugins-%d-*", os.Getpid())
	dirs, _ := filepath.Glob(filepath.Join(base, mine))
	if len(dirs) != 1 {
		t.Fatalf("socket directories %v", dirs)
	}
	if err := os.RemoveAll(dirs[0]); err != nil {
		t.Fatal(err)
	}
	pid := f.(*host.Remote).PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	// Validate relaunches the plugin (it is idempotent).
	if err := f.Validate(ctx, "fill", plugins.Params{"percent": 50.0}, plugins.Params{"path": base}); err != nil {
		t.Fatalf("relaunch: %v", err)
	}
	if p := f.(*host.Remote).PID(); p == 0 || p == pid {
		t.Fatalf("plugin not relaunched: pid %d (was %d)", p, pid)
	}
	dirs, _ = filepath.Glob(filepath.Join(base, mine))
	if len(dirs) != 1 {
		t.Fatalf("after the relaunch: socket directories %v", dirs)
	}
}
