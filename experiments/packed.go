package experiments

import (
	"math"
	"sort"
	"time"

	"github.com/chaosctl/chaosctl/probes"
)

// packedSeries is one probe's samples ordered by End, packed into columns of
// about 10 bytes a sample (a probes.Sample is 80), so that a run of hours
// at 10 Hz fits in memory. Every sample comes back exactly as it was
// recorded (at): same instant, monotonic reading, zone, latency, outcome.
//
// A sample's start is an offset from base, the first sample's start. Its
// end, as an offset too, is stored in blocks: an int64 anchor per block and
// a uint32 nanosecond delta per sample, a new block whenever a delta does
// not fit (about every 4.3 s). What a sample said (ok, value, error) is an
// index into a table of the few different outcomes a probe reports.
type packedSeries struct {
	probe   string
	base    time.Time
	hasBase bool

	blockFirst []int                  // index of each block's first sample
	anchor     []int64                // each block's end offset, ns from base
	delta      column[uint32, uint32] // end offset - the block's anchor, ns
	lat        column[uint32, int64]  // latency, ns
	out        column[uint16, uint32] // index into outcomes

	outcomes []outcome
	interned map[outcomeKey]uint32

	scratch []probes.Sample // the tail an out-of-order sample is inserted before, reused
}

// maxInterned bounds the outcome table's index: past it (a probe whose
// value never repeats, such as a CPU percentage) outcomes are stored
// without looking for an equal one.
const maxInterned = 1 << 16

type outcomeKey struct {
	ok    bool
	value uint64 // math.Float64bits: NaN is one key
	err   string
}

type outcome struct {
	ok    bool
	value float64
	err   string
	// exact is a start that base plus an offset does not reproduce to the
	// bit (the wall clock was stepped, another time zone): kept whole,
	// with an outcome of its own.
	exact    time.Time
	hasExact bool
}

func (s *packedSeries) len() int { return s.delta.len() }

// at is sample i.
func (s *packedSeries) at(i int) probes.Sample {
	b := sort.Search(len(s.blockFirst), func(k int) bool { return s.blockFirst[k] > i }) - 1
	return s.sample(i, b)
}

// sample is sample i of block b.
func (s *packedSeries) sample(i, b int) probes.Sample {
	lat := s.lat.get(i)
	o := &s.outcomes[s.out.get(i)]
	t := o.exact
	if !o.hasExact {
		t = s.base.Add(time.Duration(s.anchor[b] + int64(s.delta.get(i)) - lat))
	}
	return probes.Sample{Probe: s.probe, Time: t, OK: o.ok, Latency: time.Duration(lat), Value: o.value, Err: o.err}
}

// appendRange appends samples [lo, hi) to dst.
func (s *packedSeries) appendRange(dst []probes.Sample, lo, hi int) []probes.Sample {
	if lo >= hi {
		return dst
	}
	b := sort.Search(len(s.blockFirst), func(k int) bool { return s.blockFirst[k] > lo }) - 1
	for i := lo; i < hi; i++ {
		for b+1 < len(s.blockFirst) && s.blockFirst[b+1] <= i {
			b++
		}
		dst = append(dst, s.sample(i, b))
	}
	return dst
}

// add inserts smp in End order, after samples that end at the same
// instant: recording order, as the recorder always kept it. Samples come
// nearly in order, so this is an append but for a few.
func (s *packedSeries) add(smp probes.Sample) {
	i := s.len()
	for i > 0 && s.at(i-1).End().After(smp.End()) {
		i--
	}
	if i == s.len() {
		s.push(smp)
		return
	}
	s.scratch = s.appendRange(s.scratch[:0], i, s.len())
	s.truncate(i)
	s.push(smp)
	for _, t := range s.scratch {
		s.push(t)
	}
	clear(s.scratch) // no strings kept alive
}

// push appends smp at the end.
func (s *packedSeries) push(smp probes.Sample) {
	if !s.hasBase {
		s.base, s.hasBase = smp.Time, true
	}
	start := smp.Time.Sub(s.base)
	exact := s.base.Add(start) != smp.Time
	end, ok := addNoOverflow(int64(start), int64(smp.Latency))
	if !ok {
		end, exact = int64(start), true
	}
	n := s.len()
	if nb := len(s.anchor); nb == 0 || end < s.anchor[nb-1] || end-s.anchor[nb-1] > math.MaxUint32 {
		s.blockFirst = append(s.blockFirst, n)
		s.anchor = append(s.anchor, end)
	}
	s.delta.push(uint32(end - s.anchor[len(s.anchor)-1]))
	s.lat.push(int64(smp.Latency))
	s.out.push(s.outcome(smp, exact))
}

func addNoOverflow(a, b int64) (int64, bool) {
	c := a + b
	return c, (c > a) == (b > 0) || b == 0
}

// outcome is the index of smp's outcome, interned unless its start must
// be kept whole.
func (s *packedSeries) outcome(smp probes.Sample, exact bool) uint32 {
	o := outcome{ok: smp.OK, value: smp.Value, err: smp.Err}
	if exact {
		o.exact, o.hasExact = smp.Time, true
		s.outcomes = append(s.outcomes, o)
		return uint32(len(s.outcomes) - 1)
	}
	k := outcomeKey{ok: smp.OK, value: math.Float64bits(smp.Value), err: smp.Err}
	if i, ok := s.interned[k]; ok {
		return i
	}
	s.outcomes = append(s.outcomes, o)
	i := uint32(len(s.outcomes) - 1)
	if len(s.interned) < maxInterned {
		if s.interned == nil {
			s.interned = map[outcomeKey]uint32{}
		}
		s.interned[k] = i
	}
	return i
}

// truncate drops samples from n on. Outcomes of their own stay in the
// table: this is the rare path of a sample that came out of order.
func (s *packedSeries) truncate(n int) {
	s.delta.truncate(n)
	s.lat.truncate(n)
	s.out.truncate(n)
	nb := sort.Search(len(s.blockFirst), func(k int) bool { return s.blockFirst[k] >= n })
	s.blockFirst, s.anchor = s.blockFirst[:nb], s.anchor[:nb]
}

// search is the first index in [0, len) whose sample satisfies f, which
// is false and then true, as sort.Search.
func (s *packedSeries) search(f func(probes.Sample) bool) int {
	return sort.Search(s.len(), func(i int) bool { return f(s.at(i)) })
}

// column holds values in the narrow type N until one does not fit, and
// from then on all of them in the wide type W. Values are in chunks of
// chunkLen that are never reallocated: a growing run neither copies its
// columns nor leaves their old arrays to the collector.
type column[N uint16 | uint32, W uint32 | int64] struct {
	narrow [][]N
	wide   [][]W
	isWide bool
	n      int
}

const chunkLen = 4096

func (c *column[N, W]) len() int { return c.n }

func (c *column[N, W]) push(v W) {
	if !c.isWide {
		if n := N(v); W(n) == v {
			c.narrow = pushChunked(c.narrow, n)
			c.n++
			return
		}
		for _, ch := range c.narrow {
			w := make([]W, len(ch), cap(ch))
			for i, n := range ch {
				w[i] = W(n)
			}
			c.wide = append(c.wide, w)
		}
		c.narrow, c.isWide = nil, true
	}
	c.wide = pushChunked(c.wide, v)
	c.n++
}

// pushChunked appends v to the last chunk, or to a new one when it is
// full. The first chunk grows as a slice does, so a short run stays small.
func pushChunked[T any](chunks [][]T, v T) [][]T {
	if k := len(chunks); k == 0 || len(chunks[k-1]) == chunkLen {
		c := 16
		if k > 0 {
			c = chunkLen
		}
		chunks = append(chunks, make([]T, 0, c))
	}
	k := len(chunks) - 1
	chunks[k] = append(chunks[k], v)
	return chunks
}

func (c *column[N, W]) get(i int) W {
	if c.isWide {
		return c.wide[i/chunkLen][i%chunkLen]
	}
	return W(c.narrow[i/chunkLen][i%chunkLen])
}

func (c *column[N, W]) truncate(n int) {
	c.n = n
	if c.isWide {
		c.wide = truncateChunked(c.wide, n)
	} else {
		c.narrow = truncateChunked(c.narrow, n)
	}
}

func truncateChunked[T any](chunks [][]T, n int) [][]T {
	k := (n + chunkLen - 1) / chunkLen
	clear(chunks[k:])
	chunks = chunks[:k]
	if k > 0 {
		chunks[k-1] = chunks[k-1][:n-(k-1)*chunkLen]
	}
	return chunks
}
