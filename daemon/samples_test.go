package daemon

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
)

// A real run streams its samples to a sample log in the store's
// directory; its journal, short, keeps them all.
func TestRunWritesItsSampleLog(t *testing.T) {
	v := startVictim(t)
	cfg := testConfig(t)
	writeScen(t, cfg, "freeze.toml", render(t, scen{Name: "freeze", Duration: "300ms", PID: v.pid}))
	td := start(t, cfg)
	res, err := td.c.Start(context.Background(), api.StartRequest{Scenario: "freeze"})
	if err != nil {
		t.Fatal(err)
	}
	j, _ := td.wait(t, res.RunID)
	path, err := td.d.store.SampleLogPath(res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := journal.ReadSampleLog(path, func(probes.Sample) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n == 0 || n != len(j.Samples) || j.SampleLog != "" || j.SamplesTotal != 0 {
		t.Errorf("log has %d samples, journal %d (total %d, log %q)", n, len(j.Samples), j.SamplesTotal, j.SampleLog)
	}
}

// GET /v1/runs/{id} thins a long run's samples from its log to the
// resolution asked: every bucket that failed still shows a failure.
func TestGetRunThinsToResolution(t *testing.T) {
	td := start(t, testConfig(t))
	st := td.d.store
	id := "20260301T100000Z-abcdef"
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	l, err := st.CreateSampleLog(id)
	if err != nil {
		t.Fatal(err)
	}
	const n = 60000 // 10 minutes at 100 Hz
	for i := range n {
		s := probes.Sample{Probe: "api", Time: t0.Add(time.Duration(i) * 10 * time.Millisecond), OK: true, Latency: time.Duration(1+i%7) * time.Millisecond}
		if i%3000 == 1500 { // one failure every 30 s
			s.OK, s.Err = false, "refused"
		}
		if err := l.Record(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	stored := &journal.Journal{Format: journal.FormatVersion, RunID: id, StartedAt: t0, EndedAt: t0.Add(10 * time.Minute),
		Verdict: journal.Passed, Samples: []probes.Sample{}, SamplesTotal: n, SampleResolution: time.Second, SampleLog: l.Path()}
	if err := st.PutRun(stored); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	get := func(q string) (*journal.Journal, error) {
		var j journal.Journal
		return &j, td.c.Get(ctx, "/v1/runs/"+id+q, &j)
	}
	check := func(j *journal.Journal, width time.Duration) {
		t.Helper()
		failed := 0
		for _, s := range j.Samples {
			if !s.OK {
				failed++
			}
		}
		buckets := int(10*time.Minute/width) + 1
		if j.SamplesTotal != n || j.SampleResolution != width || len(j.Samples) > 3*buckets || failed != n/3000 {
			t.Errorf("width %s: %d samples of %d at %s, %d failures", width, len(j.Samples), j.SamplesTotal, j.SampleResolution, failed)
		}
	}
	j, err := get("?resolution=10s")
	if err != nil {
		t.Fatal(err)
	}
	check(j, 10*time.Second)
	j, err = td.c.Run(ctx, id) // the client's default: RunPoints buckets
	if err != nil {
		t.Fatal(err)
	}
	check(j, 301*time.Millisecond)
	if j, err = get(""); err != nil || len(j.Samples) != 0 || j.SampleResolution != time.Second {
		t.Errorf("without a resolution, the journal as stored: %d samples at %s, %v", len(j.Samples), j.SampleResolution, err)
	}
	for _, q := range []string{"?resolution=fast", "?resolution=1us", "?points=0", "?points=1000001", "?points=10&resolution=1s"} {
		if _, err := get(q); apiStatus(err) != http.StatusBadRequest {
			t.Errorf("%s: %v, want 400", q, err)
		}
	}
	// Without its log (deleted by hand), what the journal has is thinned.
	if err := os.Remove(l.Path()); err != nil {
		t.Fatal(err)
	}
	if j, err = get("?points=10"); err != nil || len(j.Samples) != 0 {
		t.Errorf("without the log: %v %+v", err, j)
	}
}
