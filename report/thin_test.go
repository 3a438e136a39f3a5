package report

import (
	"strings"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/probes"
)

// TestThinKeepsEnvelopeAndFailures: an hour at 10 Hz is drawn with a few
// points per pixel column, but the slowest sample and every failing stretch
// stay visible.
func TestThinKeepsEnvelopeAndFailures(t *testing.T) {
	t0 := time.Unix(0, 0)
	var in []probes.Sample
	for i := range 36000 {
		s := probes.Sample{Probe: "p", Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), OK: true, Latency: time.Millisecond}
		switch {
		case i == 12345:
			s.Latency = 900 * time.Millisecond // one spike
		case i >= 20000 && i < 20050:
			s.OK, s.Err = false, "connection refused"
		}
		in = append(in, s)
	}
	x := func(t time.Time) float64 { return padL + plotW*float64(t.Sub(t0))/float64(time.Hour) }
	out := thin(in, x)
	if len(out) > 3*int(plotW) {
		t.Fatalf("%d points kept for %d columns", len(out), int(plotW))
	}
	var spike bool
	failed := 0
	for _, s := range out {
		spike = spike || s.Latency == 900*time.Millisecond
		if !s.OK {
			failed++
			if !strings.Contains(s.Err, "more failed samples here") {
				t.Errorf("aggregated failure %q does not count the others", s.Err)
			}
		}
	}
	if !spike {
		t.Error("the latency spike was thinned away")
	}
	if failed == 0 {
		t.Error("the outage was thinned away")
	}
	if short := in[:100]; len(thin(short, x)) != 100 {
		t.Error("a short run was thinned")
	}
}
