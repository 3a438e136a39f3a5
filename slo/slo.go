// Package slo is the SLO arithmetic chaosctl judges by, shared by the engine
// and the runbook executor: an objective's figure over samples, the first
// breach of its sliding window, error ratios, and the recovery judgement
// (judge.go). Samples are one probe's, ordered by the instant each outcome
// became known (Sample.End).
package slo

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

// Objective is an SLO reduced to what evaluation needs.
type Objective struct {
	Name         string
	Probe        string
	Availability float64 // percent; 0: no availability objective
	Percentile   float64 // 0: no latency objective
	LatencyMax   time.Duration
	Window       time.Duration
	MustHold     bool // must hold during the faults
}

// New is the objective of a scenario's SLO.
func New(s scenarios.SLO) Objective {
	o := Objective{Name: s.Name, Probe: s.Probe, Window: s.Window.Duration, MustHold: s.MustHoldDuringFaults}
	if s.Availability != nil {
		o.Availability = *s.Availability
	}
	if s.LatencyPercentile != nil {
		o.Percentile = *s.LatencyPercentile
		o.LatencyMax = s.LatencyMax.Duration
	}
	return o
}

// String renders the objective as people write it.
func (o Objective) String() string {
	var parts []string
	if o.Availability > 0 {
		parts = append(parts, fmt.Sprintf("availability >= %g%%", o.Availability))
	}
	if o.Percentile > 0 {
		parts = append(parts, fmt.Sprintf("p%g < %s", o.Percentile, o.LatencyMax))
	}
	return strings.Join(parts, " and ") + " over " + o.Window.String()
}

// Figure summarises samples and says whether o holds over them. No samples
// never hold: an objective without evidence is not met.
func (o Objective) Figure(samples []probes.Sample) journal.SLOFigure {
	return o.FigureSeq(SliceSeq(samples), 0, len(samples), nil)
}

// Seq is random access to one probe's samples ordered by End: a window's
// copy (SliceSeq) or the recorder's packed series, read in place so that a
// five-hour phase is judged without copying its samples.
type Seq interface {
	Len() int
	At(i int) probes.Sample
}

type SliceSeq []probes.Sample

func (s SliceSeq) Len() int               { return len(s) }
func (s SliceSeq) At(i int) probes.Sample { return s[i] }

// View is the samples [Lo, Hi) of S, as a Seq of their own.
type View struct {
	S      Seq
	Lo, Hi int
}

func (v View) Len() int               { return v.Hi - v.Lo }
func (v View) At(i int) probes.Sample { return v.S.At(v.Lo + i) }

// FigureSeq is Figure over samples [lo, hi) of sq; lat is a buffer to
// reuse for the latencies (nil: one is allocated).
func (o Objective) FigureSeq(sq Seq, lo, hi int, lat []time.Duration) journal.SLOFigure {
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
	f.P50, f.P95, f.P99 = journal.Percentile(lat, 50), journal.Percentile(lat, 95), journal.Percentile(lat, 99)
	f.Held = true
	if o.Availability > 0 && f.Availability < o.Availability {
		f.Held = false
	}
	// No ok sample gives no latency evidence: a latency objective is not met.
	if o.Percentile > 0 && (len(lat) == 0 || journal.Percentile(lat, o.Percentile) >= o.LatencyMax) {
		f.Held = false
	}
	return f
}

var latPool = sync.Pool{New: func() any { b := make([]time.Duration, 0, 256); return &b }}

// Bounds is the index range of sq's samples known in [from, to], as
// between finds them.
func Bounds(sq Seq, from, to time.Time) (int, int) {
	n := sq.Len()
	lo := sort.Search(n, func(i int) bool { return !sq.At(i).End().Before(from) })
	hi := sort.Search(n, func(i int) bool { return sq.At(i).End().After(to) })
	return lo, max(lo, hi)
}

// Between returns the samples whose outcome became known in [from, to].
// samples are one probe's, ordered by End.
func Between(samples []probes.Sample, from, to time.Time) []probes.Sample {
	lo := sort.Search(len(samples), func(i int) bool { return !samples[i].End().Before(from) })
	hi := sort.Search(len(samples), func(i int) bool { return samples[i].End().After(to) })
	if lo >= hi {
		return nil
	}
	return samples[lo:hi]
}

// BreachDuring slides o's window over samples and returns the first
// instant in [from, to] at which the objective did not hold over the
// window ending there. Windows reach back before from, as the SLO's own
// window does: samples must start at from - o.Window.
func (o Objective) BreachDuring(samples []probes.Sample, from, to time.Time) (time.Time, bool) {
	return o.BreachSeq(SliceSeq(samples), from, to)
}

// BreachSeq is BreachDuring over sq, in one pass: the window's ends only
// move forward, and one latency buffer serves every window.
func (o Objective) BreachSeq(sq Seq, from, to time.Time) (time.Time, bool) {
	lo, hi := Bounds(sq, from, to)
	n := sq.Len()
	buf := make([]time.Duration, 0, 1024)
	wlo, whi := 0, 0
	for i := lo; i < hi; i++ {
		end := sq.At(i).End()
		start := end.Add(-o.Window)
		for wlo < n && sq.At(wlo).End().Before(start) {
			wlo++
		}
		for whi < n && !sq.At(whi).End().After(end) {
			whi++
		}
		f := o.FigureSeq(sq, wlo, whi, buf)
		if !f.Held {
			return end, true
		}
	}
	return time.Time{}, false
}

// ErrorRatio is the percentage of failed samples known in [from, to].
func ErrorRatio(samples []probes.Sample, from, to time.Time) (float64, int) {
	in := Between(samples, from, to)
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
