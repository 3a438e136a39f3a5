package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/scenarios"
	"github.com/chaosctl/chaosctl/slo"
)

// scrapeInterval is how often the test's Prometheus scrapes the target.
// Prometheus takes any positive duration; 200ms keeps the runs short.
const scrapeInterval = 200 * time.Millisecond

// promServer is a real Prometheus (Debian's package) started by a test on
// loopback with its own config and storage, killed at cleanup.
type promServer struct {
	url     string
	log     string // its log file
	pidfile string // its pid
}

// startPrometheus runs prometheus scraping each job's address at
// scrapeInterval. Without the binary the test skips, or fails under
// CHAOSCTL_E2E=1 (.ci/run installs it).
func startPrometheus(t *testing.T, jobs map[string]string) *promServer {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CHAOSCTL_E2E") == "1" {
			t.Fatal("prometheus is not installed (apt-get install prometheus): CHAOSCTL_E2E=1 runs the Prometheus tests")
		}
		t.Skip("prometheus is not installed (apt-get install prometheus)")
	}
	dir := t.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\nscrape_configs:\n", scrapeInterval, scrapeInterval)
	names := make([]string, 0, len(jobs))
	for job := range jobs {
		names = append(names, job)
	}
	sort.Strings(names)
	for _, job := range names {
		fmt.Fprintf(&cfg, "  - job_name: %s\n    static_configs:\n      - targets: ['%s']\n", job, jobs[job])
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ps := &promServer{url: "http://" + addr, log: filepath.Join(dir, "prometheus.log")}
	logf, err := os.Create(ps.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	ps.pidfile = filepath.Join(dir, "prometheus.pid")
	if err := os.WriteFile(ps.pidfile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(ps.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return ps
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(ps.log)
			t.Fatalf("prometheus not ready on %s after 30s:\n%s", addr, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor polls the instant query q until its one value is want.
func (ps *promServer) waitFor(t *testing.T, q, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(ps.url + "/api/v1/query?query=" + url.QueryEscape(q))
		if err == nil {
			var body struct {
				Data struct {
					Result []struct {
						Value [2]any `json:"value"`
					} `json:"result"`
				} `json:"data"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err == nil && len(body.Data.Result) == 1 && body.Data.Result[0].Value[1] == want {
				return
			}
			last = fmt.Sprint(body.Data.Result)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(ps.log)
	t.Fatalf("%s is not %s after %s (last %s)\nprometheus log:\n%s", q, want, within, last, b)
}

// promCrashScenario kills the supervised target; two SLOs judge it, one
// on an http probe of /healthz and one on Prometheus's up for the target.
func promCrashScenario(tg *target, prom, query, interval string) scenario {
	s := healthScenario("prometheus-crash", tg.addr, "1s")
	s.Probes = append(s.Probes, probe{Name: "target-up", Kind: "prometheus", Interval: interval, Timeout: "500ms", Keys: keys{"url": prom, "query": query, "expect": "== 1"}})
	s.SLOs = []objective{{Name: "http-available", Probe: "health", Availability: 100, Window: "1s"}, {Name: "prometheus-up", Probe: "target-up", Availability: 100, Window: "1s"}}
	s.Faults = []fault{pidfileFault("kill-target", "kill", tg.pidfile, nil)}
	s.Within, s.Hold = "10s", "1s"
	return s
}

// TestPrometheusCrashRecoveryAgreesWithHTTP: Prometheus's up sees the kill
// and the restart, and the recovery it measures is the http probe's to
// within one scrape interval plus one probe interval (the journal's
// Recovery is for every SLO together, so each SLO's instant is judged
// here from the journal's samples with slo.Judge, as the engine does).
func TestPrometheusCrashRecoveryAgreesWithHTTP(t *testing.T) {
	tg := startTarget(t, true)
	ps := startPrometheus(t, map[string]string{"target": tg.addr})
	ps.waitFor(t, `up{job="target"}`, "1", 20*time.Second)

	promInterval := 100 * time.Millisecond
	path := scenarioFile(t, promCrashScenario(tg, ps.url, `up{job="target"}`, promInterval.String()))
	r := chaosctl(t, context.Background(), "run", path)
	if r.code != 0 || r.journal == nil || r.journal.Verdict != journal.Passed {
		t.Fatalf("exit %d, want 0 (passed)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	j := r.journal
	if j.Recovery == nil || j.Recovery.RecoveredAt == nil {
		t.Fatalf("recovery not measured: %+v", j.Recovery)
	}
	sc, err := scenarios.Load(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if j.SamplesTotal != 0 {
		t.Fatalf("journal thinned its samples (%d): the judgement needs them all", j.SamplesTotal)
	}
	var last time.Time
	for _, s := range j.Samples {
		last = slo.Later(last, s.End())
	}
	at := map[string]time.Time{}
	for _, jd := range slo.Judges(sc, j.Recovery.From, j.Recovery.LastFaultAt) {
		samples := probeSamples(j.Samples, jd.O.Probe, j.Recovery.From, last)
		broke := false
		for _, s := range samples {
			if !s.OK && s.End().Before(j.Recovery.RecoveredAt.Add(time.Second)) {
				broke = true
				if jd.O.Probe == "target-up" && !strings.Contains(s.Err, `up{instance="`+tg.addr+`", job="target"} is 0, want == 1`) {
					t.Errorf("prometheus sample failed for another reason: %s", s.Err)
				}
			}
		}
		if !broke {
			t.Errorf("SLO %s never saw the outage", jd.O.Name)
		}
		got := jd.At(samples, last)
		if !got.Confirmed {
			t.Fatalf("SLO %s: recovery not confirmed: %+v", jd.O.Name, got)
		}
		at[jd.O.Name] = got.At
	}
	httpAt, promAt := at["http-available"], at["prometheus-up"]
	// Prometheus knows of the restart at its first scrape after it, and
	// the probe at its first query after that scrape; 50ms is for the
	// scrape's and the query's own latency on a busy machine.
	bound := scrapeInterval + promInterval + 50*time.Millisecond
	d := promAt.Sub(httpAt)
	t.Logf("recovery: http %s, prometheus %s after the kill; prometheus %+v behind (bound %s)",
		httpAt.Sub(j.Recovery.From), promAt.Sub(j.Recovery.From), d, bound)
	if d < -100*time.Millisecond || d > bound {
		t.Errorf("prometheus recovery %s, http %s: %s apart, want within %s", promAt.Format(time.StampMicro), httpAt.Format(time.StampMicro), d, bound)
	}
	if !j.Recovery.RecoveredAt.Equal(slo.Later(httpAt, promAt)) {
		t.Errorf("journal recovered at %s, want the later SLO's instant %s", j.Recovery.RecoveredAt, slo.Later(httpAt, promAt))
	}
}

// probeSamples is one probe's samples known in [from, to], by End.
func probeSamples(all []probes.Sample, probe string, from, to time.Time) []probes.Sample {
	var out []probes.Sample
	for _, s := range all {
		if s.Probe == probe && !s.End().Before(from) && !s.End().After(to) {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, k int) bool { return out[i].End().Before(out[k].End()) })
	return out
}

// TestPrometheusUnreachableIsNotSteady: with no Prometheus answering,
// every prometheus sample says so and the run is not-steady, not failed.
func TestPrometheusUnreachableIsNotSteady(t *testing.T) {
	tg := startTarget(t, true)
	path := scenarioFile(t, promCrashScenario(tg, "http://"+freeAddr(t), `up{job="target"}`, "100ms"))
	before := tg.pid(t)

	if r := chaosctl(t, context.Background(), "validate", "--online", path); r.code != 0 {
		t.Errorf("validate --online with Prometheus unreachable: exit %d, want 0 (the check is skipped)\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := chaosctl(t, context.Background(), "run", path)
	if r.code != 3 || r.journal == nil || r.journal.Verdict != journal.NotSteady {
		t.Fatalf("exit %d, want 3 (not-steady)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	n := 0
	for _, s := range r.journal.Samples {
		if s.Probe != "target-up" {
			continue
		}
		n++
		if s.OK || !s.Unmeasured || !strings.HasPrefix(s.Err, "prometheus unreachable: ") {
			t.Errorf("sample %+v, want unmeasured with \"prometheus unreachable: ...\"", s)
		}
	}
	if n == 0 {
		t.Error("no prometheus samples in the journal")
	}
	if why := strings.Join(r.journal.Reasons, "\n"); !strings.Contains(why, "steady state could not be established: SLO prometheus-up") || !strings.Contains(why, "prometheus unreachable") {
		t.Errorf("reasons %q: want them to say Prometheus could not be asked", r.journal.Reasons)
	}
	if after := tg.pid(t); after != before {
		t.Errorf("pid %d -> %d: a fault was injected into a run that was not steady", before, after)
	}
}

// TestPrometheusLostMidRunIsNotAFailure: Prometheus itself dies while
// the fault is in (here the fault kills it). The service never broke;
// every Prometheus sample after that measured nothing, so the run is
// inconclusive, never failed (a false failure of the service) and never
// passed (on what it did not see).
func TestPrometheusLostMidRunIsNotAFailure(t *testing.T) {
	tg := startTarget(t, true)
	ps := startPrometheus(t, map[string]string{"target": tg.addr})
	ps.waitFor(t, `up{job="target"}`, "1", 10*time.Second)
	sc := promCrashScenario(tg, ps.url, `up{job="target"}`, "100ms")
	sc.Faults = []fault{pidfileFault("kill-prometheus", "kill", ps.pidfile, nil)}
	sc.Within, sc.Hold = "2s", "500ms"
	r := chaosctl(t, context.Background(), "run", scenarioFile(t, sc))
	if r.journal == nil || r.journal.Verdict != journal.Inconclusive || r.code != 7 {
		t.Fatalf("exit %d, want 7 (inconclusive)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	why := strings.Join(r.journal.Reasons, "\n")
	if !strings.Contains(why, "probe target-up could not measure") || !strings.Contains(why, "prometheus unreachable") {
		t.Errorf("reasons %q: want them to say Prometheus could not be asked", r.journal.Reasons)
	}
	measured, unmeasured := 0, 0
	for _, s := range r.journal.Samples {
		switch {
		case s.Probe != "target-up":
		case s.Unmeasured:
			unmeasured++
		case s.OK:
			measured++
		default:
			t.Errorf("a measured failure %+v: Prometheus said the target was down, and it never was", s)
		}
	}
	if measured == 0 || unmeasured == 0 {
		t.Errorf("%d measured and %d unmeasured Prometheus samples, want both", measured, unmeasured)
	}
}

// TestPrometheusBadPromQL: a query Prometheus rejects is reported with
// Prometheus's own message, at its key by validate --online, and fails the
// run in preflight with nothing injected.
func TestPrometheusBadPromQL(t *testing.T) {
	tg := startTarget(t, true)
	ps := startPrometheus(t, map[string]string{"target": tg.addr})
	path := scenarioFile(t, promCrashScenario(tg, ps.url, `up{job="target"`, "100ms"))
	before := tg.pid(t)

	if r := chaosctl(t, context.Background(), "validate", path); r.code != 0 {
		t.Errorf("offline validate: exit %d, want 0 (it does not ask Prometheus)\n%s%s", r.code, r.stdout, r.stderr)
	}
	const msg = `invalid parameter "query": 1:16: parse error: unexpected end of input inside braces`
	r := chaosctl(t, context.Background(), "validate", "--online", path)
	// At the query key: its line, column 1.
	want := fmt.Sprintf("%s:%d:1: probe[1].query: %s", path, lineOf(t, path, "query = "), msg)
	if r.code != 2 || !strings.Contains(r.stdout, want) {
		t.Errorf("validate --online: exit %d, want 2 and %q\nstdout:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
	}

	r = chaosctl(t, context.Background(), "run", path)
	if r.code != 5 || r.journal == nil || r.journal.Verdict != journal.Error {
		t.Fatalf("run: exit %d, want 5 (error in preflight)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if reasons := strings.Join(r.journal.Reasons, "\n"); !strings.Contains(reasons, "preflight: probe target-up: query: "+msg) {
		t.Errorf("reasons %q lack Prometheus's message", reasons)
	}
	if after := tg.pid(t); after != before {
		t.Errorf("pid %d -> %d: the fault was injected despite the bad query", before, after)
	}

	good := scenarioFile(t, promCrashScenario(tg, ps.url, `up{job="target"}`, "100ms"))
	if r := chaosctl(t, context.Background(), "validate", "--online", good); r.code != 0 {
		t.Errorf("validate --online of a good query: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
