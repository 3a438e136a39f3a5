package experiments

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/scenarios"
)

// objective is an SLO reduced to what evaluation needs.
type objective struct {
	name         string
	probe        string
	availability float64 // percent; 0: no availability objective
	percentile   float64 // 0: no latency objective
	latencyMax   time.Duration
	window       time.Duration
	mustHold     bool
}

func newObjective(s scenarios.SLO) objective {
	o := objective{name: s.Name, probe: s.Probe, window: s.Window.Duration, mustHold: s.MustHoldDuringFaults}
	if s.Availability != nil {
		o.availability = *s.Availability
	}
	if s.LatencyPercentile != nil {
		o.percentile = *s.LatencyPercentile
		o.latencyMax = s.LatencyMax.Duration
	}
	return o
}

// String renders the objective as people write it.
func (o objective) String() string {
	var parts []string
	if o.availability > 0 {
		parts = append(parts, fmt.Sprintf("availability >= %g%%", o.availability))
	}
	if o.percentile > 0 {
		parts = append(parts, fmt.Sprintf("p%g < %s", o.percentile, o.latencyMax))
	}
	return strings.Join(parts, " and ") + " over " + o.window.String()
}

// figure summarises samples and says whether o holds over them. No samples
// never hold: an objective without evidence is not met.
func (o objective) figure(samples []probes.Sample) journal.SLOFigure {
	f := journal.SLOFigure{Samples: len(samples)}
	if len(samples) == 0 {
		return f
	}
	ok := 0
	lat := make([]time.Duration, 0, len(samples))
	for _, s := range samples {
		if s.OK {
			ok++
			lat = append(lat, s.Latency)
		}
	}
	f.Availability = 100 * float64(ok) / float64(len(samples))
	slices.Sort(lat)
	f.P50, f.P95, f.P99 = percentile(lat, 50), percentile(lat, 95), percentile(lat, 99)
	f.Held = true
	if o.availability > 0 && f.Availability < o.availability {
		f.Held = false
	}
	// No ok sample gives no latency evidence: a latency objective is not met.
	if o.percentile > 0 && (len(lat) == 0 || percentile(lat, o.percentile) >= o.latencyMax) {
		f.Held = false
	}
	return f
}

// percentile is the nearest-rank percentile of sorted latencies.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// between returns the samples whose outcome became known in [from, to].
// samples are one probe's, ordered by End.
func between(samples []probes.Sample, from, to time.Time) []probes.Sample {
	lo := sort.Search(len(samples), func(i int) bool { return !samples[i].End().Before(from) })
	hi := sort.Search(len(samples), func(i int) bool { return samples[i].End().After(to) })
	if lo >= hi {
		return nil
	}
	return samples[lo:hi]
}

// breachDuring slides o's window over samples and returns the first
// instant in [from, to] at which the objective did not hold over the
// window ending there. Windows reach back before from, as the SLO's own
// window does: samples must start at from - o.window.
func (o objective) breachDuring(samples []probes.Sample, from, to time.Time) (time.Time, bool) {
	for _, s := range between(samples, from, to) {
		if !o.figure(between(samples, s.End().Add(-o.window), s.End())).Held {
			return s.End(), true
		}
	}
	return time.Time{}, false
}

// errorRatio is the percentage of failed samples known in [from, to].
func errorRatio(samples []probes.Sample, from, to time.Time) (float64, int) {
	in := between(samples, from, to)
	if len(in) == 0 {
		return 0, 0
	}
	bad := 0
	for _, s := range in {
		if !s.OK {
			bad++
		}
	}
	return 100 * float64(bad) / float64(len(in)), len(in)
}
