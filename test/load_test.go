package test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
)

// countingProxy forwards to target and counts what the client sent and
// what it got back: the client side's own record of the traffic.
type countingProxy struct {
	addr      string
	sent, bad atomic.Int64 // requests received; answered with a non-2xx
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func startCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	p := &countingProxy{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.sent.Add(1)
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		rp.ServeHTTP(sw, r)
		if sw.code < 200 || sw.code > 299 {
			p.bad.Add(1)
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

// outage is when probe's samples first failed and when they were next ok
// after the last failure, by the instant each outcome became known.
func outage(t *testing.T, ss []probes.Sample, probe string) (from, to time.Time) {
	t.Helper()
	last := -1
	for i, s := range ss {
		if s.Probe != probe || s.OK {
			continue
		}
		if from.IsZero() {
			from = s.End()
		}
		last = i
	}
	if last < 0 {
		t.Fatalf("probe %s never failed", probe)
	}
	for _, s := range ss[last+1:] {
		if s.Probe == probe && s.OK && (to.IsZero() || s.End().Before(to)) {
			to = s.End()
		}
	}
	if to.IsZero() {
		t.Fatalf("probe %s never recovered", probe)
	}
	return from, to
}

// TestLoadProbeDuringKill: a load probe at 200 req/s runs against the
// supervised demo target while it is killed and restarted. The target's
// own counters die with it, so the client side counts instead: the load
// probe's traffic goes through a counting proxy in this test, and what the journal recorded (every
// sample: the run is short) must match what the proxy saw sent and failed,
// but for the few requests in flight when the run ended, which the probe
// cancels and does not record. The outage the load probe saw must match
// the http probe's, which samples the target directly every 50ms, within
// that interval.
func TestLoadProbeDuringKill(t *testing.T) {
	tg := startTarget(t, true)
	px := startCountingProxy(t, tg.addr)
	s := processScenario(tg, "kill", "0s")
	s.Probes = append(s.Probes, probe{Name: "load", Kind: "load", Timeout: "300ms", Keys: keys{"url": "http://" + px.addr + "/healthz", "rate": 200}})
	s.SLOs = append(s.SLOs, objective{Name: "load-available", Probe: "load", Availability: 100, Window: "1s"})
	path := scenarioFile(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := chaosctl(t, ctx, "run", path)
	if r.journal == nil || r.journal.Verdict != journal.Passed {
		t.Fatalf("exit %d, want passed\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	j := r.journal
	if j.SamplesTotal != 0 {
		t.Fatalf("journal thinned (%d samples): the comparison needs every one", j.SamplesTotal)
	}
	var n, failed int
	for _, s := range j.Samples {
		if s.Probe == "load" {
			n++
			if !s.OK {
				failed++
			}
		}
	}
	sent, bad := int(px.sent.Load()), int(px.bad.Load())
	t.Logf("load probe recorded %d requests, %d failed (%.1f%%); the proxy saw %d sent, %d failed (%.1f%%)",
		n, failed, 100*float64(failed)/float64(n), sent, bad, 100*float64(bad)/float64(sent))
	// A run of a few seconds at 200 req/s.
	if n < 400 {
		t.Fatalf("%d load samples, want 200 a second", n)
	}
	// In flight at the end: at most rate × timeout (60), in practice a few.
	inFlight := sent - n
	if inFlight < 0 || inFlight > 60 {
		t.Errorf("proxy saw %d requests, journal has %d: %d unaccounted", sent, n, inFlight)
	}
	if failed == 0 {
		t.Fatal("the load probe never saw the outage")
	}
	if d := failed - bad; d < -inFlight || d > 0 {
		t.Errorf("journal has %d failures, proxy saw %d (in flight at the end: %d)", failed, bad, inFlight)
	}
	// The journal's per-interval aggregate is exactly its samples, recounted.
	ls := loadSeries(t, j, "load")
	checkIntervals(t, j, ls, func(yield func(probes.Sample) bool) {
		for _, s := range j.Samples {
			if s.Probe == "load" && !yield(s) {
				return
			}
		}
	})
	if ls.Requests != n || ls.Failed != failed {
		t.Errorf("aggregate: %d requests, %d failed; the samples: %d, %d", ls.Requests, ls.Failed, n, failed)
	}

	lf, lt := outage(t, j.Samples, "load")
	hf, ht := outage(t, j.Samples, "health")
	t.Logf("outage: load probe %s..%s (%s), http probe %s..%s (%s)",
		lf.Format("15:04:05.000"), lt.Format("15:04:05.000"), lt.Sub(lf).Round(time.Millisecond),
		hf.Format("15:04:05.000"), ht.Format("15:04:05.000"), ht.Sub(hf).Round(time.Millisecond))
	// The http probe samples every 50ms, the load probe every 5ms: each
	// edge agrees within an http interval plus scheduling slack.
	const tol = 50*time.Millisecond + 5*time.Millisecond + 25*time.Millisecond
	if d := hf.Sub(lf); d < -tol || d > tol {
		t.Errorf("outage starts %s apart (load %s, http %s), want within %s", d, lf, hf, tol)
	}
	if d := ht.Sub(lt); d < -tol || d > tol {
		t.Errorf("outage ends %s apart (load %s, http %s), want within %s", d, lt, ht, tol)
	}
}

// loadSeries is probe's per-interval aggregate in j.
func loadSeries(t *testing.T, j *journal.Journal, probe string) journal.LoadSeries {
	t.Helper()
	for _, ls := range j.Load {
		if ls.Probe == probe {
			return ls
		}
	}
	t.Fatalf("journal has no per-interval aggregate for probe %s (load: %+v)", probe, j.Load)
	return journal.LoadSeries{}
}

// checkIntervals recounts samples (one probe's, every one it recorded)
// into ls's intervals, by the instant each outcome became known, and
// wants exactly ls: every interval's requests, ok and failed, and totals
// that are their sums.
func checkIntervals(t *testing.T, j *journal.Journal, ls journal.LoadSeries, samples func(func(probes.Sample) bool)) {
	t.Helper()
	if ls.Interval <= 0 || len(ls.Intervals) == 0 {
		t.Fatalf("aggregate of %s: interval %s, %d intervals", ls.Probe, ls.Interval, len(ls.Intervals))
	}
	type count struct{ req, ok int }
	got := map[time.Time]count{}
	n := 0
	for s := range samples {
		k := s.End().Sub(j.StartedAt) / ls.Interval
		at := j.StartedAt.Add(k * ls.Interval).UTC()
		c := got[at]
		c.req++
		if s.OK {
			c.ok++
		}
		got[at] = c
		n++
	}
	var req, ok, failed int
	for i, iv := range ls.Intervals {
		if i > 0 && !iv.Start.Equal(ls.Intervals[i-1].Start.Add(ls.Interval)) {
			t.Errorf("interval %d starts at %s, %s after the one before", i, iv.Start, iv.Start.Sub(ls.Intervals[i-1].Start))
		}
		c := got[iv.Start.UTC()]
		delete(got, iv.Start.UTC())
		if iv.Requests != c.req || iv.OK != c.ok || iv.Failed != c.req-c.ok {
			t.Errorf("interval at +%s: %d requests, %d ok, %d failed; the samples recounted: %d, %d, %d",
				iv.Start.Sub(j.StartedAt), iv.Requests, iv.OK, iv.Failed, c.req, c.ok, c.req-c.ok)
		}
		if iv.OK > 0 && !(iv.P50 <= iv.P90 && iv.P90 <= iv.P99 && iv.P99 <= iv.Max && iv.P50 > 0) {
			t.Errorf("interval at +%s: percentiles out of order: p50 %s p90 %s p99 %s max %s", iv.Start.Sub(j.StartedAt), iv.P50, iv.P90, iv.P99, iv.Max)
		}
		req, ok, failed = req+iv.Requests, ok+iv.OK, failed+iv.Failed
	}
	for at, c := range got {
		t.Errorf("%d samples in an interval at %s that the aggregate lacks", c.req, at)
	}
	if req != n || ls.Requests != n || ls.OK != ok || ls.Failed != failed {
		t.Errorf("aggregate totals %d requests (%d ok, %d failed), intervals sum to %d (%d, %d), the samples are %d",
			ls.Requests, ls.OK, ls.Failed, req, ok, failed, n)
	}
}

// targetCount is the demo target's own count of requests to path answered
// with code, read from its /metrics.
func targetCount(t *testing.T, addr, path string, code int) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(fmt.Sprintf(`(?m)^http_requests_total\{code="%d",path="%s"\} (\S+)$`, code, regexp.QuoteMeta(path)))
	m := re.FindSubmatch(b)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("metrics: %q: %v", m[0], err)
	}
	return int(v)
}

// dependencyOutageScenario is the scenario of
// TestLoadProbeAggregateMatchesTargetCounters: steady duration, the front
// target's address, the rate, the dependency's pidfile.
const dependencyOutageScenario = `
version = 1
name = "checkout-dependency-outage"
[steady]
duration = %q
[[probe]]
name = "load"
kind = "load"
timeout = "2s"
url = "http://%s/api"
rate = %d
[[slo]]
name = "checkout-errors"
probe = "load"
availability = 99.0
window = "1s"
[[fault]]
name = "kill-dependency"
plugin = "process"
action = "kill"
[fault.target]
pidfile = %q
[recovery]
recover_within = "10s"
hold_for = "2s"
`

// TestLoadProbeAggregateMatchesTargetCounters: a load probe at 1000 req/s
// on the demo target's /api while the dependency /api calls is killed
// (and restarted by its supervisor). The run is long enough (over 20,000
// requests) that its journal keeps the samples thinned, so the requests
// per interval are in the journal's aggregate only: recounted from the
// sample log, which has every sample, each interval must match exactly;
// and the totals must match the front target's own counters (it is never
// killed, so they are whole): 200s for the ok requests and 502s for the
// failed ones, but for the few in flight when the run ended, which the
// target answered and the probe cancelled.
func TestLoadProbeAggregateMatchesTargetCounters(t *testing.T) {
	dep := startTarget(t, true)
	front := startTarget(t, false, "-dependency", "http://"+dep.addr+"/healthz")
	const rate = 1000
	path := filepath.Join(t.TempDir(), "scenario.toml")
	if err := os.WriteFile(path, fmt.Appendf(nil, dependencyOutageScenario, "21s", front.addr, rate, dep.pidfile), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := chaosctl(t, ctx, "run", path)
	if r.journal == nil {
		t.Fatalf("no journal: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	j := r.journal
	// A busy machine may not send the whole rate: then the run is
	// inconclusive, and says why; the aggregate is checked all the same.
	switch {
	case j.Verdict == journal.Passed:
	case j.Verdict == journal.Inconclusive && strings.Contains(strings.Join(j.Reasons, "; "), "rate not achieved"):
		t.Logf("inconclusive on this machine: %v", j.Reasons)
	default:
		t.Fatalf("verdict %s %v, want passed\nstdout:\n%s\nstderr:\n%s", j.Verdict, j.Reasons, r.stdout, r.stderr)
	}
	ls := loadSeries(t, j, "load")
	if j.SamplesTotal == 0 || j.SampleLog == "" {
		t.Fatalf("journal not thinned (%d requests): the test needs a run whose journal does not keep every sample", ls.Requests)
	}
	kept := 0
	for _, s := range j.Samples {
		if s.Probe == "load" {
			kept++
		}
	}
	t.Logf("%d requests in %d intervals of %s; the journal keeps %d of the samples, the log all %d",
		ls.Requests, len(ls.Intervals), ls.Interval, kept, j.SamplesTotal)
	if kept >= ls.Requests/4 {
		t.Errorf("the journal keeps %d of %d samples: not thinned", kept, ls.Requests)
	}

	// Every interval, recounted from the sample log.
	var logErr error
	// Failures that are not the front's 502: the probe's own (a request
	// timed out on a machine too busy to read its answer in time), which
	// the front may have answered, or not.
	var refused int
	checkIntervals(t, j, ls, func(yield func(probes.Sample) bool) {
		stop := fmt.Errorf("stop")
		logErr = journal.ReadSampleLog(j.SampleLog, func(s probes.Sample) error {
			if s.Probe != "load" {
				return nil
			}
			if !s.OK && s.Value != http.StatusBadGateway {
				refused++
			}
			if !yield(s) {
				return stop
			}
			return nil
		})
	})
	if logErr != nil {
		t.Fatalf("sample log: %v", logErr)
	}
	if ls.Failed == 0 {
		t.Fatal("the load probe never saw the dependency's outage")
	}
	if refused > max(ls.Requests/20, 10) {
		t.Errorf("%d of %d failed requests were not the front's 502: the front itself failed", refused, ls.Requests)
	}

	// The front target's own counters.
	ok200 := targetCount(t, front.addr, "/api", http.StatusOK)
	bad502 := targetCount(t, front.addr, "/api", http.StatusBadGateway)
	// What the target counted and the probe did not record: the requests
	// in flight when the run ended (at most rate × timeout; about rate ×
	// latency: a few on a quiet machine, hundreds on one so busy that
	// requests take half a second), and those the probe gave up on that
	// the front answered all the same.
	slack := ok200 + bad502 - ls.Requests + refused
	last := ls.Intervals[len(ls.Intervals)-1]
	t.Logf("aggregate: %d requests, %d ok, %d failed (%.2f%%, %d of them the probe's own); the target counted %d: %d 200s, %d 502s (%.2f%%); "+
		"in flight at the end or given up by the probe: at most %d (the last interval's p50: %s)",
		ls.Requests, ls.OK, ls.Failed, 100*float64(ls.Failed)/float64(ls.Requests), refused, ok200+bad502, ok200, bad502,
		100*float64(bad502)/float64(ok200+bad502), slack, last.P50)
	if slack < 0 || slack > 2*rate+refused {
		t.Fatalf("the target counted %d requests to /api, the aggregate %d (%d the probe's own failures)", ok200+bad502, ls.Requests, refused)
	}
	if d := ok200 - ls.OK; d < 0 || d > slack {
		t.Errorf("the target answered %d with 200, the aggregate has %d ok (slack %d)", ok200, ls.OK, slack)
	}
	if d := bad502 - (ls.Failed - refused); d < 0 || d > slack {
		t.Errorf("the target answered %d with 502, the aggregate has %d failed of which %d the probe's own (slack %d)", bad502, ls.Failed, refused, slack)
	}
}
