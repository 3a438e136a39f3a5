package experiments

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
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
	return o.figureSeq(sliceSeq(samples), 0, len(samples), nil)
}

// seq is random access to one probe's samples ordered by End: a window's
// copy (sliceSeq) or the recorder's packed series, read in place so that a
// five-hour phase is judged without copying its samples.
type seq interface {
	Len() int
	At(i int) probes.Sample
}

type sliceSeq []probes.Sample

func (s sliceSeq) Len() int               { return len(s) }
func (s sliceSeq) At(i int) probes.Sample { return s[i] }

// figureSeq is figure over samples [lo, hi) of sq; lat is a buffer to
// reuse for the latencies (nil: one is allocated).
func (o objective) figureSeq(sq seq, lo, hi int, lat []time.Duration) journal.SLOFigure {
	f := journal.SLOFigure{Samples: hi - lo}
	if hi <= lo {
		f.Samples = 0
		return f
	}
	ok := 0
	if lat == nil {
		// Live figures run several times a second per SLO: reuse buffers.
		buf := latPool.Get().(*[]time.Duration)
		defer func() { *buf = lat[:0]; latPool.Put(buf) }()
		lat = *buf
	}
	lat = lat[:0]
	for i := lo; i < hi; i++ {
		if s := sq.At(i); s.OK {
			ok++
			lat = append(lat, s.Latency)
		}
	}
	f.Availability = 100 * float64(ok) / float64(hi-lo)
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

var latPool = sync.Pool{New: func() any { b := make([]time.Duration, 0, 256); return &b }}

// bounds is the index range of sq's samples known in [from, to], as
// between finds them.
func bounds(sq seq, from, to time.Time) (int, int) {
	n := sq.Len()
	lo := sort.Search(n, func(i int) bool { return !sq.At(i).End().Before(from) })
	hi := sort.Search(n, func(i int) bool { return sq.At(i).End().After(to) })
	return lo, max(lo, hi)
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
	return o.breachSeq(sliceSeq(samples), from, to)
}

// breachSeq is breachDuring over sq, in one pass: the window's ends only
// move forward, and one latency buffer serves every window.
func (o objective) breachSeq(sq seq, from, to time.Time) (time.Time, bool) {
	lo, hi := bounds(sq, from, to)
	n := sq.Len()
	buf := make([]time.Duration, 0, 1024)
	wlo, whi := 0, 0
	for i := lo; i < hi; i++ {
		end := sq.At(i).End()
		start := end.Add(-o.window)
		for wlo < n && sq.At(wlo).End().Before(start) {
			wlo++
		}
		for whi < n && !sq.At(whi).End().After(end) {
			whi++
		}
		f := o.figureSeq(sq, wlo, whi, buf)
		if !f.Held {
			return end, true
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
