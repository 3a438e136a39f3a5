package journal

import (
	"slices"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/probes"
)

// A journal with up to MaxWholeSamples samples keeps every one. A longer
// run's journal keeps them thinned to ThinPoints buckets over the run,
// and names the sample log that has them all.
const (
	MaxWholeSamples = 20000
	ThinPoints      = 1000
)

// ThinWidth is the bucket width that thins [from, to] to about points
// buckets: a whole number of milliseconds, at least one.
func ThinWidth(from, to time.Time, points int) time.Duration {
	w := to.Sub(from) / time.Duration(max(points, 1))
	return max(w.Truncate(time.Millisecond)+time.Millisecond, time.Millisecond)
}

// Thinner downsamples samples to buckets of one width, per probe, by start
// time, as the report's timeline thins to what a pixel shows: each bucket
// keeps its first failure and its ok samples of lowest and highest
// latency. So a thinned series still shows every bucket that failed and
// the latency envelope; what it drops are ok samples between the two.
// A probe with no more than keepRaw samples is kept whole. Samples may be
// added in any order; memory is at most three samples a bucket a probe.
type Thinner struct {
	from    time.Time
	width   time.Duration
	keepRaw int
	byProbe map[string]*thinProbe
	seq     int
}

type thinProbe struct {
	raw     []seqSample
	buckets map[int64]*thinBucket // nil while the probe is kept whole
}

// seqSample is a sample and the order it was added in, which breaks ties.
type seqSample struct {
	s   probes.Sample
	seq int
}

type thinBucket struct {
	fail, lo, hi   seqSample
	hasFail, hasOK bool
}

// NewThinner thins to buckets of width from from. width <= 0 keeps every
// sample.
func NewThinner(from time.Time, width time.Duration, keepRaw int) *Thinner {
	return &Thinner{from: from, width: width, keepRaw: max(keepRaw, 0), byProbe: map[string]*thinProbe{}}
}

// Width is the bucket width.
func (t *Thinner) Width() time.Duration { return t.width }

// Add takes one sample.
func (t *Thinner) Add(s probes.Sample) {
	p := t.byProbe[s.Probe]
	if p == nil {
		p = &thinProbe{}
		t.byProbe[s.Probe] = p
	}
	t.seq++
	if p.buckets == nil {
		if t.width <= 0 || len(p.raw) < t.keepRaw {
			p.raw = append(p.raw, seqSample{s, t.seq})
			return
		}
		p.buckets = map[int64]*thinBucket{}
		for _, r := range p.raw {
			t.addTo(p, r)
		}
		p.raw = nil
	}
	t.addTo(p, seqSample{s, t.seq})
}

func (t *Thinner) addTo(p *thinProbe, ss seqSample) {
	s := ss.s
	d := s.Time.Sub(t.from)
	k := int64(d / t.width)
	if d < 0 && d%t.width != 0 {
		k-- // floor, for a sample that started before from
	}
	b := p.buckets[k]
	if b == nil {
		b = &thinBucket{}
		p.buckets[k] = b
	}
	if !s.OK {
		// The first failure: the earliest to start, the first added of equals.
		if !b.hasFail || s.Time.Before(b.fail.s.Time) {
			b.fail, b.hasFail = ss, true
		}
		return
	}
	if !b.hasOK {
		b.lo, b.hi, b.hasOK = ss, ss, true
		return
	}
	// Of equal latencies the earliest start is kept, so lo and hi are the
	// same sample when every ok sample of the bucket took as long.
	if lo := b.lo.s; s.Latency < lo.Latency || s.Latency == lo.Latency && s.Time.Before(lo.Time) {
		b.lo = ss
	}
	if hi := b.hi.s; s.Latency > hi.Latency || s.Latency == hi.Latency && s.Time.Before(hi.Time) {
		b.hi = ss
	}
}

// Samples is what was kept, ordered by start time, then probe name, then
// the order they were added in.
func (t *Thinner) Samples() []probes.Sample {
	n := 0
	for _, p := range t.byProbe {
		n += len(p.raw) + 3*len(p.buckets)
	}
	out := make([]seqSample, 0, n)
	for _, p := range t.byProbe {
		out = append(out, p.raw...)
		for _, b := range p.buckets {
			if b.hasOK {
				out = append(out, b.lo)
				if b.hi.seq != b.lo.seq {
					out = append(out, b.hi)
				}
			}
			if b.hasFail {
				out = append(out, b.fail)
			}
		}
	}
	slices.SortFunc(out, func(a, b seqSample) int {
		if c := a.s.Time.Compare(b.s.Time); c != 0 {
			return c
		}
		if c := strings.Compare(a.s.Probe, b.s.Probe); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	ss := make([]probes.Sample, len(out))
	for i, k := range out {
		ss[i] = k.s
	}
	return ss
}
