// Package test holds chaosctl's end-to-end tests: the real binary against
// real processes, real HTTP servers, real plugin subprocesses and, with
// CHAOSCTL_E2E=1, the real Docker Engine.
package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// bins holds the binaries built once for the whole package.
var bins struct {
	dir      string
	chaosctl string
	target   string
	touch    string // the example third-party plugin
	liar     string // a third-party plugin that lies (test/liar)
	probe    string // the example third-party probe plugin
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chaosctl-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.dir = dir
	bins.chaosctl = filepath.Join(dir, "chaosctl")
	bins.target = filepath.Join(dir, "target")
	bins.touch = filepath.Join(dir, "chaosctl-plugin-touch")
	bins.liar = filepath.Join(dir, "chaosctl-plugin-liar")
	bins.probe = filepath.Join(dir, "chaosctl-probe-file")
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(here))
	for pkg, out := range map[string]string{"./cmd/chaosctl": bins.chaosctl, "./test/target": bins.target, "./plugins/example": bins.touch, "./test/liar": bins.liar, "./plugins/example/probe": bins.probe} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, b)
			os.Exit(1)
		}
	}
	code := m.Run()
	runPackageCleanups()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// target is a running demo target (optionally under its supervisor).
type target struct {
	addr    string
	pidfile string
	data    string
	cmd     *exec.Cmd
	log     *bytes.Buffer
}

func startTarget(t testing.TB, supervise bool, extra ...string) *target {
	t.Helper()
	dir := t.TempDir()
	tg := &target{addr: freeAddr(t), pidfile: filepath.Join(dir, "target.pid"), data: filepath.Join(dir, "data.txt"), log: &bytes.Buffer{}}
	if err := os.WriteFile(tg.data, []byte("marker\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-listen", tg.addr, "-pidfile", tg.pidfile, "-data", tg.data, "-restart-delay", "300ms"}
	if supervise {
		args = append(args, "-supervise")
	}
	args = append(args, extra...)
	tg.cmd = exec.Command(bins.target, args...)
	tg.cmd.Stdout, tg.cmd.Stderr = tg.log, tg.log
	tg.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := tg.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// SIGCONT first: a test that fails mid-pause must not leave a stopped group.
		_ = syscall.Kill(-tg.cmd.Process.Pid, syscall.SIGCONT)
		_ = syscall.Kill(-tg.cmd.Process.Pid, syscall.SIGKILL)
		_ = tg.cmd.Wait()
	})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", tg.addr); err == nil {
			c.Close()
			return tg
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("target did not come up on %s:\n%s", tg.addr, tg.log)
	return nil
}

// pid is the serving process's pid from its pidfile.
func (tg *target) pid(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile(tg.pidfile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(strings.TrimSpace(string(b)), &pid)
	return pid
}

// writeScenario renders a scenario template into a file.
func writeScenario(t testing.TB, text string, data any) string {
	t.Helper()
	tpl := template.Must(template.New("s").Parse(text))
	var b bytes.Buffer
	if err := tpl.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "scenario.toml")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// result is a finished `chaosctl` invocation.
type result struct {
	code           int
	stdout, stderr string
	journal        *journal.Journal
}

// chaosctl runs the real binary with args and reads the journal it wrote
// (when args include "run").
func chaosctl(t testing.TB, ctx context.Context, args ...string) result {
	t.Helper()
	jpath := filepath.Join(t.TempDir(), "journal.json")
	if len(args) > 0 && args[0] == "run" {
		args = append(args, "--journal", jpath)
	}
	cmd := exec.CommandContext(ctx, bins.chaosctl, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("chaosctl %v: %v", args, err)
	}
	if b, err := os.ReadFile(jpath); err == nil {
		var j journal.Journal
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatalf("journal: %v", err)
		}
		r.journal = &j
	}
	return r
}
