package journal

import (
	"slices"
	"time"

	"github.com/chaosctl/chaosctl/probes"
)

// LoadSeries is one load probe's requests aggregated per interval: what a
// journal keeps of a probe that makes a thousand samples a second, whose
// samples it keeps thinned (see Thinner). Intervals go by the instant each
// request's outcome became known (Sample.End), as SLO windows and recovery
// do, and start at the run's start. Latency figures are over the ok
// requests, as an SLO's latency percentile is; a failed request counts in
// Failed only. The SLO figures themselves are computed over every sample,
// not from this.
type LoadSeries struct {
	Probe     string         `json:"probe"`
	Interval  time.Duration  `json:"interval_ns"` // the width of each interval
	Requests  int            `json:"requests"`    // answered requests (samples) in all intervals
	OK        int            `json:"ok"`
	Failed    int            `json:"failed"`
	Intervals []LoadInterval `json:"intervals"` // consecutive, from the first with a request to the last
}

// LoadInterval is the requests whose outcome became known in [Start,
// Start+Interval).
type LoadInterval struct {
	Start    time.Time     `json:"start"`
	Requests int           `json:"requests"`
	OK       int           `json:"ok"`
	Failed   int           `json:"failed"`
	P50      time.Duration `json:"p50_ns"` // nearest-rank percentiles of the ok requests' latency;
	P90      time.Duration `json:"p90_ns"` // 0 when none was ok
	P99      time.Duration `json:"p99_ns"`
	Max      time.Duration `json:"max_ns"`
}

// Load intervals are a second wide, or, for a run longer than
// MaxLoadIntervals seconds, as many whole seconds as keep them to about
// MaxLoadIntervals: a 10-minute run has 600, a 6-hour run 3600 of 6 s.
const (
	DefaultLoadInterval = time.Second
	MaxLoadIntervals    = 3600
)

// LoadIntervalWidth is the width of the load intervals of a run that spans
// [from, to].
func LoadIntervalWidth(from, to time.Time) time.Duration {
	span := to.Sub(from)
	limit := time.Duration(MaxLoadIntervals) * DefaultLoadInterval
	if span <= limit {
		return DefaultLoadInterval
	}
	n := (span + limit - 1) / limit // ceil: at most MaxLoadIntervals of them
	return n * DefaultLoadInterval
}

// LoadAggregator builds a LoadSeries from samples given in End order, as
// the engine's recorder keeps them. It holds the latencies of one interval
// at a time, so a long run costs its intervals, not its requests. A sample
// that ends before the interval being filled (out of order) is counted in
// that interval.
type LoadAggregator struct {
	from  time.Time
	s     LoadSeries
	k     int64 // the index of the interval being filled
	open  bool  // one is being filled
	cur   LoadInterval
	lat   []time.Duration // its ok latencies
	width time.Duration
}

// maxGapFill bounds the empty intervals written between two with
// requests: a sample far off the others (a stepped clock) leaves a gap in
// the Start times instead of millions of empty intervals.
const maxGapFill = MaxLoadIntervals

// NewLoadAggregator aggregates probe's samples into intervals of width
// from from. width <= 0 is DefaultLoadInterval. Instants are read on the
// wall clock (a monotonic reading is dropped), as a journal and a sample
// log store them, so that the intervals can be recounted from those
// exactly.
func NewLoadAggregator(probe string, from time.Time, width time.Duration) *LoadAggregator {
	if width <= 0 {
		width = DefaultLoadInterval
	}
	return &LoadAggregator{from: from.Round(0), width: width, s: LoadSeries{Probe: probe, Interval: width, Intervals: []LoadInterval{}}}
}

// Add takes one sample.
func (a *LoadAggregator) Add(s probes.Sample) {
	d := s.End().Round(0).Sub(a.from)
	k := int64(d / a.width)
	if d < 0 && d%a.width != 0 {
		k-- // floor, for a sample that ended before from
	}
	switch {
	case !a.open:
		a.start(k)
	case k > a.k:
		a.close()
		if gap := k - a.k - 1; gap > 0 && gap <= maxGapFill {
			for g := a.k + 1; g < k; g++ {
				a.s.Intervals = append(a.s.Intervals, LoadInterval{Start: a.startOf(g)})
			}
		}
		a.start(k)
	}
	a.cur.Requests++
	a.s.Requests++
	if s.OK {
		a.cur.OK++
		a.s.OK++
		a.lat = append(a.lat, s.Latency)
	} else {
		a.cur.Failed++
		a.s.Failed++
	}
}

func (a *LoadAggregator) startOf(k int64) time.Time { return a.from.Add(time.Duration(k) * a.width) }

func (a *LoadAggregator) start(k int64) {
	a.k, a.open = k, true
	a.cur = LoadInterval{Start: a.startOf(k)}
	a.lat = a.lat[:0]
}

// close computes the interval being filled and appends it.
func (a *LoadAggregator) close() {
	slices.Sort(a.lat)
	a.cur.P50 = Percentile(a.lat, 50)
	a.cur.P90 = Percentile(a.lat, 90)
	a.cur.P99 = Percentile(a.lat, 99)
	if n := len(a.lat); n > 0 {
		a.cur.Max = a.lat[n-1]
	}
	a.s.Intervals = append(a.s.Intervals, a.cur)
	a.open = false
}

// Series is the aggregate of every sample added. Call it once, after the
// last Add.
func (a *LoadAggregator) Series() LoadSeries {
	if a.open {
		a.close()
	}
	a.lat = nil
	return a.s
}

// Percentile is the nearest-rank percentile p (0..100] of sorted
// latencies, 0 for none: the one rank both an interval's figures here and
// the SLO arithmetic (package slo) take, so that they agree.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}
