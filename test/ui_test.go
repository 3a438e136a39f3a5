package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestUIGameDay drives the dashboard in headless Chromium against a real
// daemon and a real `chaosctl ui`: the scenarios page, a run started from
// the page (dry-run preview, confirmation) whose live chart gains points,
// shades the fault and shows the verdict; a second run aborted with the
// button; HALT from the page refusing `chaosctl run` (409), then resume.
// Screenshots of each page go to the test's artifact dir (go test
// -artifacts) or $CHAOSCTL_UI_SHOTS; CHAOSCTL_UI_DOCS=1 refreshes
// docs/ui-live-run.png. Under CHAOSCTL_E2E=1 a missing Chromium fails.
func TestUIGameDay(t *testing.T) {
	bin := chromium(t)
	shots := os.Getenv("CHAOSCTL_UI_SHOTS")
	if shots == "" {
		shots = t.ArtifactDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	tg := startTarget(t, true)
	d := newDaemonDir(t)
	src, err := os.ReadFile("../scenarios/examples/process-crash.toml")
	if err != nil {
		t.Fatal(err)
	}
	sc := strings.NewReplacer("127.0.0.1:18080", tg.addr, "/tmp/chaosctl-demo/target.pid", tg.pidfile).Replace(string(src))
	scPath := filepath.Join(d.scenarios, "process-crash.toml")
	if err := os.WriteFile(scPath, []byte(sc), 0o644); err != nil {
		t.Fatal(err)
	}
	d.start(t)
	loginURL := startUI(t, d)

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1200, 1000),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	// The first action starts the browser, for the lifetime of its context.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	defer cancel()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		defer scancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
			t.Fatalf("%s: %v\npage:\n%s", what, err, html)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
		if err != nil {
			t.Fatalf("count %s: %v", sel, err)
		}
		return n
	}
	shot := func(name string) string {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		p := filepath.Join(shots, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	attr := func(sel, name string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
		if err != nil {
			t.Fatalf("attribute %s of %s: %v", name, sel, err)
		}
		return v.Value
	}
	waitFor := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			if time.Now().After(deadline) {
				shot("timeout")
				t.Fatalf("timed out after %s waiting for %s", within, what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// The login URL leaves a session and a URL without the token.
	run("open the login URL", chromedp.Navigate(loginURL), chromedp.WaitVisible(chromedp.CSS("#scenarios")))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	table := text("#scenarios")
	if strings.Contains(loc, "token") || !strings.Contains(table, "api-process-crash") || !strings.Contains(table, "INC-2041") {
		t.Fatalf("scenarios page at %s:\n%s", loc, table)
	}
	shot("scenarios")
	base := strings.TrimSuffix(loc, "/")

	// Start a run from the page: preview, then confirm.
	startRun := func(name string) string {
		t.Helper()
		run("preview "+name, chromedp.Navigate(base+"/"), chromedp.Click(chromedp.CSS(`a[href$="/start"]`)),
			chromedp.WaitVisible(chromedp.CSS("#preview")), chromedp.Click(chromedp.CSS("#preview")),
			chromedp.WaitVisible(chromedp.CSS("#confirm")))
		targets := text("#targets")
		if !strings.Contains(targets, "process:") || !strings.Contains(targets, strconv.Itoa(tg.pid(t))) {
			t.Fatalf("preview targets: %q (target pid %d)", targets, tg.pid(t))
		}
		if name == "first" {
			shot("start-preview")
		}
		run("confirm", chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#live")))
		return attr("#live", "data-run")
	}
	samples := func() int { n, _ := strconv.Atoi(attr("#live", "data-samples")); return n }

	id := startRun("first")
	waitFor("the live chart's first points", 20*time.Second, func() bool { return samples() >= 5 })
	first := samples()
	waitFor("the live chart to gain points", 20*time.Second, func() bool { return samples() > first+5 })
	waitFor("the fault shaded", 30*time.Second, func() bool {
		return count("svg.live-chart rect.fault") > 0
	})
	if faults := text("#faults"); !strings.Contains(faults, "kill-api") {
		t.Errorf("fault events list: %q", faults)
	}
	waitFor("the verdict", 60*time.Second, func() bool { return attr("#live", "data-verdict") != "" })
	if v := attr("#live", "data-verdict"); v != "passed" {
		t.Errorf("verdict %q, want passed", v)
	}
	run("settle", chromedp.Sleep(time.Second))
	if count("svg.live-chart line.recovered") == 0 {
		t.Error("no recovery instant marked on the live chart")
	}
	live := shot("live-run")
	if os.Getenv("CHAOSCTL_UI_DOCS") == "1" {
		b, _ := os.ReadFile(live)
		if err := os.WriteFile("../docs/ui-live-run.png", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	run("report", chromedp.Navigate(base+"/runs/"+id+"/report"), chromedp.WaitVisible(chromedp.CSS("svg.timeline")))
	if count("#halt") != 1 {
		t.Error("report page has no HALT button")
	}
	shot("report")
	run("scenario page", chromedp.Navigate(base+"/scenarios/api-process-crash"), chromedp.WaitVisible(chromedp.CSS("#toml")),
		chromedp.WaitVisible(chromedp.CSS("svg.trend")))
	shot("scenario")
	run("history", chromedp.Navigate(base+"/history"), chromedp.WaitVisible(chromedp.CSS("#score")))
	shot("history")
	run("404", chromedp.Navigate(base+"/runs/no-such-run"), chromedp.WaitVisible(chromedp.CSS("#message")))
	shot("not-found")

	// A second run, aborted with the button.
	startRun("second")
	waitFor("the second run's samples", 20*time.Second, func() bool { return samples() >= 3 })
	run("abort", chromedp.Click(chromedp.CSS("#abort")), chromedp.WaitVisible(chromedp.CSS("#live")))
	waitFor("the aborted verdict", 30*time.Second, func() bool { return attr("#live", "data-verdict") != "" })
	if v := attr("#live", "data-verdict"); v != "aborted" {
		t.Errorf("second run's verdict %q, want aborted", v)
	}
	shot("aborted")

	// HALT from the page: `chaosctl run` through the daemon is refused with 409.
	run("halt", chromedp.Navigate(base+"/"), chromedp.Click(chromedp.CSS("#halt")), chromedp.WaitVisible(chromedp.CSS("#halted-state")))
	shot("halted")
	var st struct {
		Halted bool `json:"halted"`
	}
	if d.get(t, "/v1/status", &st); !st.Halted {
		t.Fatal("the daemon is not halted after HALT on the page")
	}
	if code := d.post(t, "/v1/runs", `{"scenario":"api-process-crash"}`, nil); code != http.StatusConflict {
		t.Errorf("POST /v1/runs while halted: %d, want 409", code)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	cmd := exec.CommandContext(rctx, bins.chaosctl, "run", "--socket", d.socket, scPath)
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), "halted") {
		t.Errorf("chaosctl run while halted: exit %d\n%s", cmd.ProcessState.ExitCode(), out)
	}
	run("resume", chromedp.Click(chromedp.CSS("#resume")), chromedp.WaitVisible(chromedp.CSS("#halt")))
	if d.get(t, "/v1/status", &st); st.Halted {
		t.Error("still halted after resume on the page")
	}
	t.Logf("screenshots in %s", shots)
}

// startUI runs the real `chaosctl ui` in front of d's socket and returns
// the login URL it prints.
func startUI(t *testing.T, d *daemonProc) string {
	t.Helper()
	cmd := exec.Command(bins.chaosctl, "ui", "--socket", d.socket)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "open "); ok {
				urls <- u
			}
		}
	}()
	select {
	case u := <-urls:
		if !strings.HasPrefix(u, "http://127.0.0.1:") || !strings.Contains(u, "/login?token=") {
			t.Fatalf("chaosctl ui printed %q", u)
		}
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("chaosctl ui printed no URL")
	}
	return ""
}

// chromium is the headless browser's path; without one the test is
// skipped, or fails under CHAOSCTL_E2E=1.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CHAOSCTL_E2E") == "1" {
		t.Fatal("headless Chromium not found, and CHAOSCTL_E2E=1 needs it: apt-get install chromium")
	}
	t.Skip("headless Chromium not found: apt-get install chromium enables this test")
	return ""
}

// TestUIDaemonLogin: the dashboard the daemon serves itself ([ui] enabled)
// under /ui/ on its TCP listener: a wrong API token is refused, the right
// one opens the scenarios page and a scenario's TOML.
func TestUIDaemonLogin(t *testing.T) {
	bin := chromium(t)
	tg := startTarget(t, true)
	d := newDaemonDir(t)
	src, err := os.ReadFile("../scenarios/examples/process-crash.toml")
	if err != nil {
		t.Fatal(err)
	}
	sc := strings.NewReplacer("127.0.0.1:18080", tg.addr, "/tmp/chaosctl-demo/target.pid", tg.pidfile).Replace(string(src))
	if err := os.WriteFile(filepath.Join(d.scenarios, "process-crash.toml"), []byte(sc), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	tokenFile := filepath.Join(d.dir, "token")
	if err := os.WriteFile(tokenFile, []byte("game-day-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(d.dir, "chaosctl.toml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), "[api]\n", fmt.Sprintf("[api]\nlisten = %q\ntoken_file = %q\n", addr, tokenFile), 1) + "[ui]\nenabled = true\n")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	d.start(t)

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, time.Minute)
	defer cancel()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
			t.Fatalf("%s: %v\npage:\n%s", what, err, html)
		}
	}
	base := "http://" + addr + "/ui/"
	run("wrong token", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), "guess"), chromedp.Click(chromedp.CSS("#sign-in")),
		chromedp.WaitVisible(chromedp.CSS("#message")))
	if title, _ := chromedp.Run(ctx, chromedp.Title()); !strings.HasPrefix(title, "Wrong token") {
		t.Errorf("after a wrong token: page %q", title)
	}
	run("sign in", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), "game-day-token"), chromedp.Click(chromedp.CSS("#sign-in")),
		chromedp.WaitVisible(chromedp.CSS("#scenarios")))
	run("scenario page", chromedp.Click(chromedp.CSS("a.scenario-name")), chromedp.WaitVisible(chromedp.CSS("#toml")))
	if toml, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#toml"))); !strings.Contains(toml, tg.addr) {
		t.Errorf("scenario TOML from the API: %q", toml)
	}
}
