package test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// pluginDir is a plugin directory holding the example plugin and a
// checksums file (outside it) with sum, or the right sum when sum is "".
func pluginDir(t *testing.T, sum string) (dir, sums string) {
	t.Helper()
	dir = t.TempDir()
	b, err := os.ReadFile(bins.touch)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "chaosctl-plugin-touch"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if sum == "" {
		h := sha256.Sum256(b)
		sum = hex.EncodeToString(h[:])
	}
	sums = filepath.Join(t.TempDir(), "SHA256SUMS")
	if err := os.WriteFile(sums, []byte(sum+"  chaosctl-plugin-touch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, sums
}

// touchScenario has the touch plugin create a file at path for a second.
func touchScenario(addr, path string) scenario {
	s := healthScenario("maintenance-file", addr, "500ms")
	s.Faults = []fault{{Name: "marker", Plugin: "touch", Action: "create", Keys: keys{"duration": "1s"}, Target: keys{"path": path}}}
	s.Within, s.Hold = "3s", "300ms"
	return s
}

func TestExternalPluginEndToEnd(t *testing.T) {
	tg := startTarget(t, false)
	dir, sums := pluginDir(t, "")
	marker := filepath.Join(t.TempDir(), "maintenance")
	path := scenarioFile(t, touchScenario(tg.addr, marker))
	ctx := context.Background()
	r := chaosctl(t, ctx, "run", path, "--plugin-dir", dir, "--plugin-checksums", sums)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.journal.Faults[0]
	if f.Plugin != "touch" || f.InjectedAt == nil || f.RevertedAt == nil || f.RevertError != "" {
		t.Fatalf("fault %+v", f)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("marker %s left behind: %v", marker, err)
	}
	l := chaosctl(t, ctx, "plugins", "--plugin-dir", dir, "--plugin-checksums", sums, "-o", "json")
	if l.code != 0 || !strings.Contains(l.stdout, `"name":"touch","source":"external"`) || !strings.Contains(l.stdout, `"name":"create"`) {
		t.Fatalf("plugins list lacks touch: exit %d\n%s\n%s", l.code, l.stdout, l.stderr)
	}
}

func TestExternalPluginChecksumRefused(t *testing.T) {
	bad := strings.Repeat("0", 64)
	for _, tc := range []struct {
		name, sum string
		want      []string
	}{
		{"wrong", bad, []string{"refusing to run", "chaosctl-plugin-touch", "expects " + bad, "sha256 is "}},
		{"missing", "none", []string{"refusing to run", "lists no sha256 for chaosctl-plugin-touch"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, sums := pluginDir(t, tc.sum)
			if tc.sum == "none" {
				if err := os.WriteFile(sums, []byte("# nothing allowed\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			marker := filepath.Join(t.TempDir(), "m")
			path := scenarioFile(t, touchScenario("127.0.0.1:1", marker))
			for _, cmd := range []string{"validate", "run"} {
				r := chaosctl(t, context.Background(), cmd, path, "--plugin-dir", dir, "--plugin-checksums", sums)
				out := r.stdout + r.stderr
				if r.code != 2 {
					t.Fatalf("%s: exit %d, want 2\n%s", cmd, r.code, out)
				}
				if at := fmt.Sprintf("scenario.toml:%d:1: fault[0].plugin:", lineOf(t, path, "plugin = ")); !strings.Contains(out, at) {
					t.Errorf("%s: refusal not at the plugin key's file:line:col:\n%s", cmd, out)
				}
				for _, w := range tc.want {
					if !strings.Contains(out, w) {
						t.Errorf("%s: output lacks %q:\n%s", cmd, w, out)
					}
				}
			}
			if _, err := os.Stat(marker); !os.IsNotExist(err) {
				t.Fatal("the refused plugin ran")
			}
		})
	}
}

const badPluginInput = `version = 1
name = "bad-faults"
[[probe]]
name = "p"
kind = "tcp"
address = "127.0.0.1:1"
[[slo]]
name = "s"
probe = "p"
availability = 99.0
[[fault]]
plugin = "nosuch"
action = "x"
[[fault]]
plugin = "disk"
action = "shred"
[[fault]]
plugin = "disk"
action = "fill"
params.percent = "half"
target.path = "/tmp"
[[fault]]
plugin = "disk"
action = "fill"
params.percent = 250.0
target.path = "/tmp"
[[fault]]
plugin = "disk"
action = "fill"
params.size = "lots"
target.path = "tmp"
[recovery]
recover_within = "5s"
`

// TestBadFaultInputNamesFileAndLine checks that schema errors and the
// plugin's own Validate messages, from a plugin process across the gRPC
// boundary, come back as file:line:col errors before anything runs.
func TestBadFaultInputNamesFileAndLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(path, []byte(badPluginInput), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"validate", "run"} {
		r := chaosctl(t, context.Background(), cmd, path, "--plugin-dir", t.TempDir())
		if r.code != 2 {
			t.Fatalf("%s: exit %d, want 2\n%s\n%s", cmd, r.code, r.stdout, r.stderr)
		}
		out := strings.ReplaceAll(r.stdout+r.stderr, path, "bad.toml")
		want := strings.Join([]string{
			`bad.toml:12:1: fault[0].plugin: unknown plugin "nosuch" (known: disk, docker, kubernetes, latency, network, process, stress)`,
			`bad.toml:16:1: fault[1].action: unknown action "shred" for plugin "disk" (known: fill)`,
			`bad.toml:20:8: fault[2].params.percent: want float, got string "half"`,
			`bad.toml:25:8: fault[3].params.percent: must be at most 100, got 250`,
			// The plugin's own Validate, answered by the disk plugin process:
			`bad.toml:30:8: fault[4].params.size: not a size: "lots" (want e.g. "512MiB", "2GB" or bytes)`,
			`bad.toml:31:8: fault[4].target.path: must be an absolute path, got "tmp"`,
		}, "\n")
		if !strings.Contains(out, want) {
			t.Errorf("%s: output lacks\n%s\ngot:\n%s", cmd, want, out)
		}
		if r.journal != nil {
			t.Errorf("%s: a journal was written for an invalid scenario", cmd)
		}
	}
}

func TestPluginsListGolden(t *testing.T) {
	r := chaosctl(t, context.Background(), "plugins", "--plugin-dir", t.TempDir())
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	golden := filepath.Join("testdata", "plugins.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(r.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if r.stdout != string(want) {
		t.Fatalf("chaosctl plugins differs from %s (run with -update if intended):\n%s", golden, r.stdout)
	}
}

// tmpfs mounts a small tmpfs for the test (root only).
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "chaosctl-e2e", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// children are the pids whose parent is pid and whose command line holds all of words.
func children(pid int, words ...string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		cl, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		c := string(bytes.ReplaceAll(cl, []byte{0}, []byte{' '}))
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(c, w)
		}
		if ok {
			out = append(out, n)
		}
	}
	return out
}

// watchWriter collects a command's output and closes seen the first time
// a line containing want is written.
type watchWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watchWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	if bytes.Contains(w.buf.Bytes(), []byte(w.want)) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(b), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestDiskPluginKilledMidFaultIsReverted fills a tmpfs through the disk
// plugin process, kills that process with SIGKILL and expects chaosctl to
// relaunch it, delete the fill file at once and journal what happened.
func TestDiskPluginKilledMidFaultIsReverted(t *testing.T) {
	dir := tmpfs(t, "16m")
	tg := startTarget(t, false)
	s := scenario{Name: "disk-full", Steady: "300ms", Probes: []probe{healthProbe(tg.addr, "100ms", "300ms")}, SLOs: []objective{available(100, "300ms")},
		Faults: []fault{{Name: "fill", Plugin: "disk", Action: "fill", Keys: keys{"duration": "30s"}, Params: keys{"percent": 60.0}, Target: keys{"path": dir}}},
		Within: "3s", Hold: "200ms"}
	path := scenarioFile(t, s)
	jpath := filepath.Join(t.TempDir(), "j.json")
	cmd := exec.Command(bins.chaosctl, "run", path, "--journal", jpath, "--plugin-dir", t.TempDir())
	out := &watchWriter{want: `"message":"injected"`, seen: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	// Kill the plugin once the fault is in effect (Inject returned), not
	// while it is still being injected: that case is the prepared revert
	// data's, tested in the daemon crash test.
	select {
	case <-out.seen:
	case <-time.After(10 * time.Second):
		t.Fatalf("the fill was never injected:\n%s", out)
	}
	fill := waitFor(t, time.Second, func() string {
		m, _ := filepath.Glob(filepath.Join(dir, ".chaosctl-fill-*"))
		if len(m) == 1 {
			return m[0]
		}
		return ""
	})
	pl := children(cmd.Process.Pid, "plugin", "serve", "disk")
	if len(pl) != 1 {
		t.Fatalf("disk plugin processes under chaosctl: %v", pl)
	}
	killed := time.Now()
	if err := syscall.Kill(pl[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() string {
		if _, err := os.Stat(fill); os.IsNotExist(err) {
			return "gone"
		}
		return ""
	})
	t.Logf("fill file removed %v after the plugin was killed", time.Since(killed).Round(time.Millisecond))
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
		t.Fatalf("exit %v, want 5 (error: the fault was cut short)\n%s", err, out)
	}
	if time.Since(killed) > 15*time.Second {
		t.Errorf("run went on for %v after the crash: the 30s fault was not cut short", time.Since(killed))
	}
	j, err := journal.Read(jpath)
	if err != nil {
		t.Fatal(err)
	}
	f := j.Faults[0]
	note := strings.Join(f.Notes, "\n")
	for _, w := range []string{fmt.Sprintf("pid %d", pl[0]), "died", "relaunched", "reverted from revert data"} {
		if !strings.Contains(note, w) {
			t.Errorf("journal note %q lacks %q", note, w)
		}
	}
	if f.RevertedAt == nil || f.RevertError != "" || j.Verdict != journal.Error {
		t.Errorf("fault %+v verdict %s", f, j.Verdict)
	}
}

func waitFor(t *testing.T, d time.Duration, f func() string) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if s := f(); s != "" {
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("condition not met in %v", d)
	return ""
}
