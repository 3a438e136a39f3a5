package report

import (
	"bytes"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
)

// BenchmarkRenderHTML: an hour-long run probed at 10 Hz by two probes
// (72,000 samples) rendered as HTML. Prints the page size and time per page.
func BenchmarkRenderHTML(b *testing.B) {
	t0 := time.Unix(1_700_000_000, 0)
	j := &journal.Journal{Format: 1, RunID: "bench", Scenario: "bench", StartedAt: t0, EndedAt: t0.Add(time.Hour), Verdict: journal.Passed}
	for i := range 36000 {
		for _, p := range []string{"a", "b"} {
			ok := i%500 != 0
			j.Samples = append(j.Samples, probes.Sample{Probe: p, Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), OK: ok, Latency: time.Duration(1+i%7) * time.Millisecond})
		}
	}
	for _, p := range []string{"a", "b"} {
		j.SLOs = append(j.SLOs, journal.SLOResult{Name: "slo-" + p, Probe: p, Objective: "p99 < 10ms", LatencyPercentile: 99, LatencyMax: 10 * time.Millisecond})
	}
	var size int
	start := time.Now()
	for b.Loop() {
		var buf bytes.Buffer
		if err := Render(&buf, j, "html"); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB/page")
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/page")
}
