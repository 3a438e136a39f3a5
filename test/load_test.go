package test

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
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
// supervised demo target while it is killed and restarted. The target has
// no counters of its own yet (a /metrics is being added to it), so the
// client side counts instead: the load probe's traffic goes through a
// counting proxy in this test, and what the journal recorded (every
// sample: the run is short) must match what the proxy saw sent and failed,
// but for the few requests in flight when the run ended, which the probe
// cancels and does not record. The outage the load probe saw must match
// the http probe's, which samples the target directly every 50ms, within
// that interval.
func TestLoadProbeDuringKill(t *testing.T) {
	tg := startTarget(t, true)
	px := startCountingProxy(t, tg.addr)
	v := crashVarsFor(tg)
	v.Extra = `
[[probe]]
name = "load"
kind = "load"
timeout = "300ms"
url = "http://` + px.addr + `/healthz"
rate = 200
[[slo]]
name = "load-available"
probe = "load"
availability = 100.0
window = "1s"
`
	path := writeScenario(t, crashScenario, v)
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
