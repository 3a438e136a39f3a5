package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// The verdict's ground-truth cases: each one knows its true outage from the
// target itself (its pid, its own log), and the verdict must say the same.

// verdictScenario has faults judged by the health probe, on at most two
// targets.
func verdictScenario(addr, within, hold string, faults ...fault) scenario {
	s := healthScenario("verdict", addr, "1s")
	s.Faults, s.Within, s.Hold = faults, within, hold
	s.Extra = "[safety]\nmax_targets = 2\n"
	return s
}

// background is a chaosctl run going on while the test acts on the target.
type background struct {
	cmd     *exec.Cmd
	jpath   string
	stdout  bytes.Buffer
	mu      sync.Mutex
	stderr  bytes.Buffer
	waiters []logWaiter
	done    chan struct{}
}

type logWaiter struct {
	sub string
	ch  chan time.Time
}

// startRun starts `chaosctl run` with args and watches its log lines.
func startRun(t *testing.T, args ...string) *background {
	t.Helper()
	return startRunIn(t, filepath.Join(t.TempDir(), "journal.json"), nil, args...)
}

// startRunIn is startRun with the journal at jpath and env added.
func startRunIn(t *testing.T, jpath string, env []string, args ...string) *background {
	t.Helper()
	b := &background{jpath: jpath, done: make(chan struct{})}
	b.cmd = exec.Command(bins.chaosctl, append(append([]string{"run"}, args...), "--journal", b.jpath)...)
	b.cmd.Env = append(os.Environ(), env...)
	b.cmd.Stdout = &b.stdout
	pr, pw := io.Pipe()
	b.cmd.Stderr = pw
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			now := time.Now()
			b.mu.Lock()
			b.stderr.WriteString(line + "\n")
			keep := b.waiters[:0]
			for _, w := range b.waiters {
				if strings.Contains(line, w.sub) {
					w.ch <- now
					continue
				}
				keep = append(keep, w)
			}
			b.waiters = keep
			b.mu.Unlock()
		}
	}()
	go func() {
		_ = b.cmd.Wait()
		pw.Close()
		close(b.done)
	}()
	t.Cleanup(func() {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		<-b.done
	})
	return b
}

// waitLog waits for a log line containing sub, for at most d.
func (b *background) waitLog(t *testing.T, sub string, d time.Duration) time.Time {
	t.Helper()
	ch := make(chan time.Time, 1)
	b.mu.Lock()
	if strings.Contains(b.stderr.String(), sub) {
		b.mu.Unlock()
		return time.Now()
	}
	b.waiters = append(b.waiters, logWaiter{sub, ch})
	b.mu.Unlock()
	select {
	case at := <-ch:
		return at
	case <-b.done:
		t.Fatalf("chaosctl exited before logging %q:\n%s\n%s", sub, b.stdout.String(), b.log())
	case <-time.After(d):
		t.Fatalf("no log line %q within %s:\n%s", sub, d, b.log())
	}
	return time.Time{}
}

func (b *background) log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderr.String()
}

// wait waits for the run to end and returns its exit code and journal.
func (b *background) wait(t *testing.T, d time.Duration) (int, *journal.Journal) {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(d):
		t.Fatalf("run still going after %s:\n%s", d, b.log())
	}
	j, err := journal.Read(b.jpath)
	if err != nil {
		t.Fatalf("journal: %v\n%s\n%s", err, b.stdout.String(), b.log())
	}
	return b.cmd.ProcessState.ExitCode(), j
}

// pidfileFault is a process fault on the process of a pidfile; k are its
// other keys (after, duration).
func pidfileFault(name, action, pidfile string, k keys) fault {
	return fault{Name: name, Plugin: "process", Action: action, Keys: k, Target: keys{"pidfile": pidfile}}
}

// TestLateBitingFaultFails is the false pass the verdicts issue reports: a
// harmless first fault at +0s, then a SIGKILL of the API, which has no
// supervisor, at +4s. The API never comes back, and the run must fail.
func TestLateBitingFaultFails(t *testing.T) {
	tg := startTarget(t, false)
	bystander := exec.Command("sleep", "60")
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bystander.Process.Kill(); _ = bystander.Wait() })
	s := verdictScenario(tg.addr, "3s", "2s",
		fault{Name: "harmless", Plugin: "process", Action: "kill", Target: keys{"pid": bystander.Process.Pid}},
		pidfileFault("kill-api", "kill", tg.pidfile, keys{"after": "4s"}))
	s.Recovery = keys{"measure_from": "inject"}
	path := scenarioFile(t, s)
	r := chaosctl(t, context.Background(), "run", path)
	if r.code != 1 || r.journal == nil || r.journal.Verdict != journal.Failed {
		t.Fatalf("exit %d, want 1 (failed): the API never came back\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	j := r.journal
	// Ground truth: the API process is gone for good.
	if err := syscall.Kill(tg.cmd.Process.Pid, 0); err == nil {
		if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", tg.cmd.Process.Pid)); !strings.Contains(string(st), ") Z") {
			t.Fatalf("the API process %d is still alive: the fault did not bite", tg.cmd.Process.Pid)
		}
	}
	if j.Recovery == nil || j.Recovery.RecoveredAt != nil {
		t.Fatalf("recovery %+v: a service that never came back recovered", j.Recovery)
	}
	if want := *j.Faults[1].InjectedAt; !j.Recovery.LastFaultAt.Equal(want) {
		t.Errorf("last fault event %v, want the second kill %v", j.Recovery.LastFaultAt, want)
	}
	for _, f := range j.Faults {
		if f.Effect != journal.EffectConfirmed {
			t.Errorf("fault %s effect %q (%s), want confirmed: the process is gone", f.ID, f.Effect, f.EffectDetail)
		}
	}
}

// serveLine is the target's own log of a (re)start: its serving instant.
var serveLine = regexp.MustCompile(`(?m)^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{6}) target (\d+) serving on`)

// servingTimes reads every instant the target (re)started serving from its
// own log, with the pid that served.
func servingTimes(t testing.TB, log string) []time.Time {
	t.Helper()
	var out []time.Time
	for _, m := range serveLine.FindAllStringSubmatch(log, -1) {
		at, err := time.ParseInLocation("2006/01/02 15:04:05.000000", m[1], time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, at)
	}
	return out
}

// TestRelapseAfterRecoveryFails: a supervised API comes back after the
// kill, recovery is confirmed, and then it is killed again (by someone
// else) inside observe_after. The run fails as relapsed, at the instant of
// the second kill.
func TestRelapseAfterRecoveryFails(t *testing.T) {
	tg := startTarget(t, true)
	s := verdictScenario(tg.addr, "5s", "1s", pidfileFault("kill-api", "kill", tg.pidfile, nil))
	s.Recovery = keys{"observe_after": "4s"}
	path := scenarioFile(t, s)
	b := startRun(t, path)
	b.waitLog(t, `"state":"recovered"`, 20*time.Second)
	pid := tg.pid(t)
	killAt := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	code, j := b.wait(t, 30*time.Second)
	if code != 1 || j.Verdict != journal.Failed {
		t.Fatalf("exit %d verdict %s %v, want 1 (failed, relapsed)\n%s", code, j.Verdict, j.Reasons, b.log())
	}
	rc := j.Recovery
	if rc.RelapsedAt == nil || !rc.Recovered {
		t.Fatalf("recovery %+v, want recovered then relapsed", rc)
	}
	// The probe fails from the first attempt after the kill: within one
	// interval + 20ms.
	if d := rc.RelapsedAt.Sub(killAt); d < 0 || d > 70*time.Millisecond {
		t.Errorf("relapse measured %v after the second kill, want within one interval + 20ms", d)
	}
	if r := strings.Join(j.Reasons, "\n"); !strings.Contains(r, "relapsed at +") {
		t.Errorf("reasons %q do not say relapsed", r)
	}
	// Ground truth from the target's log: the first restart is the recovery.
	starts := servingTimes(t, tg.log.String())
	if len(starts) < 2 {
		t.Fatalf("target log shows %d starts, want the first and the restart:\n%s", len(starts), tg.log)
	}
	if d := rc.RecoveredAt.Sub(starts[1]); d < 0 || d > 70*time.Millisecond {
		t.Errorf("recovered at %v, the target served again at %v: off by %v", rc.RecoveredAt, starts[1], d)
	}
}

// TestPausedProcessResumedIsVanished: someone resumes the paused API mid
// fault. The fact check records it as vanished, near that instant, and the
// run does not pass.
func TestPausedProcessResumedIsVanished(t *testing.T) {
	tg := startTarget(t, false)
	path := scenarioFile(t, verdictScenario(tg.addr, "6s", "500ms", pidfileFault("pause-api", "pause", tg.pidfile, keys{"duration": "4s"})))
	b := startRun(t, path)
	b.waitLog(t, "effect confirmed", 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	resumeAt := time.Now()
	if err := syscall.Kill(tg.pid(t), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	code, j := b.wait(t, 30*time.Second)
	if code != 7 || j.Verdict != journal.Inconclusive {
		t.Fatalf("exit %d verdict %s %v, want 7 (inconclusive)\n%s", code, j.Verdict, j.Reasons, b.log())
	}
	f := j.Faults[0]
	if f.VanishedAt == nil {
		t.Fatalf("fault %+v not recorded as vanished", f)
	}
	// Checked about once a second.
	if d := f.VanishedAt.Sub(resumeAt); d < 0 || d > 1500*time.Millisecond {
		t.Errorf("vanished recorded %v after the resume, want within the 1s polling", d)
	}
	if r := strings.Join(j.Reasons, "\n"); !strings.Contains(r, "vanished") {
		t.Errorf("reasons %q do not say vanished", r)
	}
	assertRunning(t, tg.pid(t))
}

// liarDir is a plugin directory with the lying test plugin and its checksums.
func liarDir(t *testing.T) (dir, sums string) {
	t.Helper()
	dir = t.TempDir()
	b, err := os.ReadFile(bins.liar)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "chaosctl-plugin-liar"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	sums = filepath.Join(t.TempDir(), "SHA256SUMS")
	if err := os.WriteFile(sums, []byte(hex.EncodeToString(h[:])+"  chaosctl-plugin-liar\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, sums
}

// liarFault is a fault of the liar plugin (test/liar) on path, for 1s.
func liarFault(name, action, path string) fault {
	return fault{Name: name, Plugin: "liar", Action: action, Keys: keys{"duration": "1s"}, Target: keys{"path": path}}
}

// TestRevertThatLeavesTheFaultIsError: a plugin whose Revert says it
// succeeded but leaves the fault in place. Status after the revert still
// finds it, so the revert failed: exit 5, and the journal says so.
func TestRevertThatLeavesTheFaultIsError(t *testing.T) {
	tg := startTarget(t, false)
	dir, sums := liarDir(t)
	marker := filepath.Join(t.TempDir(), "marker")
	path := scenarioFile(t, verdictScenario(tg.addr, "3s", "300ms", liarFault("stuck", "stick", marker)))
	r := chaosctl(t, context.Background(), "run", path, "--plugin-dir", dir, "--plugin-checksums", sums)
	if r.code != 5 || r.journal.Verdict != journal.Error {
		t.Fatalf("exit %d, want 5 (error)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the marker is gone (%v): the plugin did not lie, the test proves nothing", err)
	}
	f := r.journal.Faults[0]
	if !strings.Contains(f.RevertError, "still in effect") {
		t.Fatalf("revert error %q, want it to say the fault is still in effect", f.RevertError)
	}
	if !strings.Contains(r.stdout, "REVERT FAILED") {
		t.Errorf("summary does not say REVERT FAILED:\n%s", r.stdout)
	}
}

// TestStatusThatHangsOrIsUnimplementedIsNotVerified: a Status that never
// answers is bounded and recorded as not verified, without stretching the
// fault or blocking the revert; an unimplemented one is recorded as not
// verified too, and every report format says so.
func TestStatusThatHangsOrIsUnimplementedIsNotVerified(t *testing.T) {
	tg := startTarget(t, false)
	dir, sums := liarDir(t)
	tmp := t.TempDir()
	hung, blind := filepath.Join(tmp, "hung"), filepath.Join(tmp, "blind")
	path := scenarioFile(t, verdictScenario(tg.addr, "3s", "300ms", liarFault("hung", "hang", hung), liarFault("blind", "blind", blind)))
	start := time.Now()
	r := chaosctl(t, context.Background(), "run", path, "--plugin-dir", dir, "--plugin-checksums", sums)
	took := time.Since(start)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0: the service was never touched\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	byName := map[string]journal.Fault{}
	for _, f := range r.journal.Faults {
		byName[f.Name] = f
	}
	if f := byName["hung"]; f.Effect != journal.EffectUnverified || f.RevertedAt == nil || f.InjectedAt == nil {
		t.Fatalf("hung fault %+v, want not verified and reverted", f)
	} else if held := f.RevertedAt.Sub(*f.InjectedAt); held > 1500*time.Millisecond {
		t.Errorf("the 1s fault was held %v: a hung Status stretched it", held)
	}
	if f := byName["blind"]; f.Effect != journal.EffectUnverified || !strings.Contains(f.EffectDetail, "does not implement Status") {
		t.Fatalf("blind fault effect %q %q, want not verified: unimplemented", f.Effect, f.EffectDetail)
	}
	for _, p := range []string{hung, blind} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
	// steady 1s + faults 1s + the hung revert check (5s) + recovery: not the hour the plugin sleeps.
	if took > 20*time.Second {
		t.Errorf("run took %v", took)
	}
	for _, format := range []string{"md", "html", "junit", "json"} {
		out := chaosctl(t, context.Background(), "report", r.journalPath(t), "--format", format)
		if out.code != 0 || !strings.Contains(out.stdout, "not verified") {
			t.Errorf("report --format %s does not say the effect was not verified (exit %d):\n%s\n%s", format, out.code, out.stdout, out.stderr)
		}
	}
}

// journalPath writes r's journal to a file for commands that read one.
func (r result) journalPath(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "journal.json")
	b, err := json.Marshal(r.journal)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// killRecoveryErrors kills a supervised target n times, one run each, and
// returns how far each measured recovery instant is from the truth: the
// instant the restarted target says, in its own log, that it serves again.
func killRecoveryErrors(tb testing.TB, n int) []time.Duration {
	tg := startTarget(tb, true)
	s := verdictScenario(tg.addr, "3s", "300ms", pidfileFault("kill-api", "kill", tg.pidfile, nil))
	s.Steady, s.SLOs[0].Window = "300ms", "300ms"
	s.Recovery = keys{"observe_after": "0s"}
	path := scenarioFile(tb, s)
	var out []time.Duration
	for i := range n {
		r := chaosctl(tb, context.Background(), "run", path)
		if r.code != 0 || r.journal == nil || r.journal.Recovery.RecoveredAt == nil {
			tb.Fatalf("kill %d: exit %d\n%s\n%s", i, r.code, r.stdout, r.stderr)
		}
		killed := *r.journal.Faults[0].InjectedAt
		var truth time.Time
		for _, at := range servingTimes(tb, tg.log.String()) {
			if at.After(killed) {
				truth = at
				break
			}
		}
		if truth.IsZero() {
			tb.Fatalf("kill %d: the target's log shows no restart after %v:\n%s", i, killed, tg.log)
		}
		out = append(out, r.journal.Recovery.RecoveredAt.Sub(truth))
	}
	return out
}

// TestRecoveryGroundTruthRepeatedKills: over 10 kills with a 50ms probe
// interval, every measured recovery is within one interval + 20ms of the
// restart the target logs itself, and never before it.
func TestRecoveryGroundTruthRepeatedKills(t *testing.T) {
	const tolerance = 50*time.Millisecond + 20*time.Millisecond
	for i, e := range killRecoveryErrors(t, 10) {
		if e < 0 || e > tolerance {
			t.Errorf("kill %d: measured recovery %v from the truth, want within [0, %v]", i, e, tolerance)
		}
	}
}

// BenchmarkRecoveryAccuracy prints the largest error of the measured
// recovery over 10 real kills (truth: the target's own restart log).
func BenchmarkRecoveryAccuracy(b *testing.B) {
	var worst, sum time.Duration
	errs := killRecoveryErrors(b, 10)
	for _, e := range errs {
		worst = max(worst, e.Abs())
		sum += e.Abs()
	}
	b.ReportMetric(float64(worst)/1e6, "max-error-ms")
	b.ReportMetric(float64(sum)/float64(len(errs))/1e6, "mean-error-ms")
}
