package experiments

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
)

// fakeStreamer is a load probe in simulated time: one sample every
// period, ok while ok says so, and the rate achieved it is told to report.
type fakeStreamer struct {
	fakeProber
	every     time.Duration
	got, want float64
	streams   atomic.Int32
}

var (
	_ probes.Streamer     = (*fakeStreamer)(nil)
	_ probes.RateReporter = (*fakeStreamer)(nil)
)

func (f *fakeStreamer) Stream(ctx context.Context, _ time.Duration, emit func(probes.Sample)) error {
	f.streams.Add(1)
	t := time.NewTicker(f.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		emit(f.Probe(ctx))
	}
}

func (f *fakeStreamer) Achieved() (got, want float64) { return f.got, f.want }

// countingSink is a sample log that only counts.
type countingSink struct{ n atomic.Int64 }

func (s *countingSink) Record(probes.Sample) error { s.n.Add(1); return nil }
func (s *countingSink) Close() error               { return nil }
func (s *countingSink) Path() string               { return "samples.log" }

// TestStreamingProbeRate: a streaming probe is streamed once, not polled,
// and a run whose rate was not achieved is inconclusive, never passed.
func TestStreamingProbeRate(t *testing.T) {
	tests := []struct {
		name      string
		got, want float64
		down      bool // the fault breaks the service
		verdict   journal.Verdict
		reason    string
	}{
		{"achieved", 990, 1000, false, journal.Passed, ""},
		{"exactly 95%", 950, 1000, false, journal.Passed, ""},
		{"not achieved", 612.4, 1000, false, journal.Inconclusive, "probe p: rate not achieved: 612 of 1000 req/s"},
		{"low rate", 3.14, 5, false, journal.Inconclusive, "probe p: rate not achieved: 3.1 of 5.0 req/s"},
		{"failed stays failed, and says the rate fell short", 100, 1000, true, journal.Failed, "probe p: rate not achieved: 100 of 1000 req/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var down atomic.Bool
				p := &fakeStreamer{fakeProber: fakeProber{func() bool { return !down.Load() }}, every: time.Millisecond, got: tt.got, want: tt.want}
				f := &fakeFault{}
				if tt.down {
					f.down = &down
				}
				sc := minimal(fakeSpec{p}, fault("break", 1, 200*time.Millisecond))
				sc.Recovery.Within = dur(100 * time.Millisecond)
				j := Run(context.Background(), sc, Options{Log: zerolog.Nop(), Catalog: newCatalog(f)})
				if j.Verdict != tt.verdict {
					t.Fatalf("verdict %s %v, want %s", j.Verdict, j.Reasons, tt.verdict)
				}
				if tt.reason != "" && !strings.Contains(strings.Join(j.Reasons, "\n"), tt.reason) {
					t.Errorf("reasons %q, want %q", j.Reasons, tt.reason)
				}
				if n := p.streams.Load(); n != 1 {
					t.Errorf("streamed %d times, want once", n)
				}
				// The run lasts about 400ms at 1000 samples a second.
				if n := len(j.Samples); n < 300 {
					t.Errorf("%d samples, want one a millisecond", n)
				}
			})
		})
	}
}

// TestStreamingProbeJournal: 60s at 1000 req/s with a sample log keeps the
// journal thinned while the SLO figures count every request; a run under
// the thinning threshold keeps every sample.
func TestStreamingProbeJournal(t *testing.T) {
	tests := []struct {
		name    string
		steady  time.Duration
		thinned bool
	}{
		{"60s at 1000 req/s", 60 * time.Second, true},
		{"10s at 1000 req/s", 10 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var down atomic.Bool
				p := &fakeStreamer{fakeProber: fakeProber{func() bool { return !down.Load() }}, every: time.Millisecond, got: 1000, want: 1000}
				f := &fakeFault{down: &down}
				sc := minimal(fakeSpec{p}, fault("break", 1, time.Second))
				sc.Steady.Duration = dur(tt.steady)
				sc.Recovery.Within = dur(5 * time.Second)
				sink := &countingSink{}
				j := Run(context.Background(), sc, Options{Log: zerolog.Nop(), Catalog: newCatalog(f), SampleLog: sink})
				if j.Verdict != journal.Passed {
					t.Fatalf("verdict %s %v", j.Verdict, j.Reasons)
				}
				recorded := int(sink.n.Load())
				steady := j.SLOs[0].Phases[journal.PhaseSteady].Samples
				outage := j.SLOs[0].Phases[journal.PhaseFault]
				t.Logf("recorded %d, journal %d (total %d, resolution %s), steady figure over %d, fault figure over %d at %.1f%%",
					recorded, len(j.Samples), j.SamplesTotal, j.SampleResolution, steady, outage.Samples, outage.Availability)
				// Every request of steady state is in its figure.
				if want := int(tt.steady / time.Millisecond); steady < want-1 || steady > want+1 {
					t.Errorf("steady figure over %d samples, want %d", steady, want)
				}
				// The outage: a second of failures, every one counted.
				if outage.Samples < 999 || outage.Availability > 0.5 {
					t.Errorf("fault figure over %d samples at %.1f%%, want 1000 failed", outage.Samples, outage.Availability)
				}
				if !tt.thinned {
					if len(j.Samples) != recorded || j.SamplesTotal != 0 {
						t.Errorf("journal keeps %d of %d samples (total %d), want all", len(j.Samples), recorded, j.SamplesTotal)
					}
					return
				}
				if j.SamplesTotal != recorded || j.SampleLog != "samples.log" {
					t.Errorf("total %d log %q, want %d in samples.log", j.SamplesTotal, j.SampleLog, recorded)
				}
				// At most three samples a bucket, about 1000 buckets.
				if len(j.Samples) > 3*(journalPoints+2) {
					t.Errorf("journal keeps %d samples, want at most %d", len(j.Samples), 3*(journalPoints+2))
				}
				failed := 0
				for _, s := range j.Samples {
					if !s.OK {
						failed++
					}
				}
				// Every bucket of the outage still shows a failure.
				if want := int(time.Second / j.SampleResolution); failed < want-1 {
					t.Errorf("thinned journal shows %d failures, want one in each of the outage's %d buckets", failed, want)
				}
			})
		})
	}
}
