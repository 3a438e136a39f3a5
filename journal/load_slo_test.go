package journal_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/slo"
)

// TestLoadSeriesAgreesWithSLO judges the same outcomes both ways: each
// interval of the journal's aggregate, and the SLO arithmetic (package
// slo, what verdicts are made of) over every sample known in that
// interval, give the same count, availability, p50, p99 and verdict; and
// over a window of several whole intervals the aggregate's counts give the
// availability and the availability verdict the SLO computes. The
// aggregate is for the journal and the reports; verdicts are still judged
// on every sample.
func TestLoadSeriesAgreesWithSLO(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		rate   int           // requests a second
		secs   int           // how long
		failP  float64       // chance a request fails, outside the bad seconds
		bad    [2]int        // seconds [from, to) in which every request fails, or is slow
		slowed bool          // in the bad seconds requests are 20 times slower, not failed
		slow   time.Duration // latency ceiling
		obj    slo.Objective // Window: the multi-interval window judged
		mixed  bool          // some intervals hold and some do not
	}{
		{name: "steady, held", rate: 200, secs: 10, slow: 2 * time.Millisecond,
			obj: slo.Objective{Availability: 99, Percentile: 99, LatencyMax: 5 * time.Millisecond, Window: 3 * time.Second}},
		{name: "an outage breaks availability", rate: 500, secs: 12, failP: 0.001, bad: [2]int{4, 7}, slow: 3 * time.Millisecond,
			obj: slo.Objective{Availability: 99, Window: 2 * time.Second}, mixed: true},
		{name: "a slow spell breaks p99", rate: 1000, secs: 6, bad: [2]int{2, 4}, slowed: true, slow: 5 * time.Millisecond,
			obj: slo.Objective{Percentile: 99, LatencyMax: 20 * time.Millisecond, Window: time.Second}, mixed: true},
		{name: "p90 and availability, sparse traffic", rate: 3, secs: 20, failP: 0.2, slow: 10 * time.Millisecond,
			obj: slo.Objective{Availability: 60, Percentile: 90, LatencyMax: 8 * time.Millisecond, Window: 5 * time.Second}, mixed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.rate)))
			var ss []probes.Sample
			for i := range tc.rate * tc.secs {
				start := time.Duration(i) * time.Second / time.Duration(tc.rate)
				lat := time.Duration(rng.Int64N(int64(tc.slow))) + time.Microsecond
				sec := int(start / time.Second)
				inBad := sec >= tc.bad[0] && sec < tc.bad[1]
				if inBad && tc.slowed {
					lat *= 20
				}
				ok := rng.Float64() >= tc.failP && (!inBad || tc.slowed)
				ss = append(ss, probes.Sample{Probe: "load", Time: t0.Add(start), Latency: lat, OK: ok})
			}
			// As the recorder keeps them: by the instant each outcome became known.
			slices.SortStableFunc(ss, func(a, b probes.Sample) int { return a.End().Compare(b.End()) })

			a := journal.NewLoadAggregator("load", t0, time.Second)
			for _, s := range ss {
				a.Add(s)
			}
			series := a.Series()
			require.Equal(t, len(ss), series.Requests)

			// Each interval, both ways.
			o := tc.obj
			sum := 0
			verdicts := map[bool]int{}
			for _, iv := range series.Intervals {
				in := slo.Between(ss, iv.Start, iv.Start.Add(time.Second-1))
				f := o.Figure(in)
				sum += iv.Requests
				require.Equal(t, f.Samples, iv.Requests, "interval %s", iv.Start)
				if iv.Requests == 0 {
					continue
				}
				assert.InDelta(t, f.Availability, 100*float64(iv.OK)/float64(iv.Requests), 1e-9, "interval %s", iv.Start)
				assert.Equal(t, f.P50, iv.P50, "p50 of interval %s", iv.Start)
				assert.Equal(t, f.P99, iv.P99, "p99 of interval %s", iv.Start)
				assert.Equal(t, f.Held, heldByInterval(o, iv), "verdict of interval %s", iv.Start)
				verdicts[f.Held]++
			}
			assert.Equal(t, len(ss), sum)
			if tc.mixed {
				require.True(t, verdicts[true] > 0 && verdicts[false] > 0, "want intervals that hold and that do not: %v", verdicts)
			} else {
				require.Zero(t, verdicts[false], "every interval holds")
			}

			// Windows of several whole intervals: availability from the counts.
			n := int(o.Window / time.Second)
			for i := 0; i+n <= len(series.Intervals); i++ {
				from := series.Intervals[i].Start
				f := o.Figure(slo.Between(ss, from, from.Add(o.Window-1)))
				var req, okN int
				for _, iv := range series.Intervals[i : i+n] {
					req, okN = req+iv.Requests, okN+iv.OK
				}
				require.Equal(t, f.Samples, req, "window at %s", from)
				if req == 0 {
					continue
				}
				avail := 100 * float64(okN) / float64(req)
				assert.InDelta(t, f.Availability, avail, 1e-9, "window at %s", from)
				if o.Percentile == 0 {
					assert.Equal(t, f.Held, avail >= o.Availability, "availability verdict of the window at %s", from)
				}
			}
		})
	}
}

// heldByInterval is o's verdict computed from one interval's aggregate.
func heldByInterval(o slo.Objective, iv journal.LoadInterval) bool {
	if iv.Requests == 0 {
		return false
	}
	if o.Availability > 0 && 100*float64(iv.OK)/float64(iv.Requests) < o.Availability {
		return false
	}
	if o.Percentile > 0 {
		p := map[float64]time.Duration{50: iv.P50, 90: iv.P90, 99: iv.P99}[o.Percentile]
		if iv.OK == 0 || p >= o.LatencyMax {
			return false
		}
	}
	return true
}
