package experiments

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/slo"
)

// recorder keeps every sample of a run, per probe, ordered by the instant
// its outcome became known (Sample.End), which is what SLO windows and
// recovery use. Windows are found by binary search, so evaluating an SLO
// costs its window, not the run's length. Samples are held packed (see
// packedSeries), about 10 bytes each, and a window is materialised as the
// []probes.Sample it always was, so the SLO arithmetic sees every outcome.
// With a sink, every sample also goes to it as it is recorded.
type recorder struct {
	mu      sync.RWMutex
	byProbe map[string]*packedSeries
	n       int
	notify  func(probes.Sample)
	sinkMu  sync.Mutex // Record and Close; disk writes never hold up windows
	sink    SampleSink
	sinkErr error // the sink's first error; it gets no samples after one
	// streams are the probes that stream (a load probe): the journal
	// keeps their requests aggregated per interval as well.
	streams map[string]bool
	// unmeasured are each probe's samples that measured nothing
	// (Sample.Unmeasured), by the instant each ended, and the first
	// maxUnmeasuredKept of them. They are no evidence either way: they go
	// to the sink, the live view and the journal, never into the series
	// the SLOs are judged on.
	unmeasured     map[string][]time.Time
	unmeasuredKept map[string][]probes.Sample
}

// maxUnmeasuredKept bounds the unmeasured samples a journal keeps, per
// probe (the sample log has them all).
const maxUnmeasuredKept = 1000

// SampleSink is where a run streams its samples as they are recorded: the
// daemon's sample log (journal.SampleLog). Record is called with one
// sample at a time, in recording order; Close once, when the run ends.
type SampleSink interface {
	Record(probes.Sample) error
	Close() error
	Path() string
}

var _ SampleSink = (*journal.SampleLog)(nil)

func newRecorder(sink SampleSink, notify func(probes.Sample)) *recorder {
	return &recorder{sink: sink, notify: notify}
}

func (r *recorder) add(s probes.Sample) {
	r.mu.Lock()
	if s.Unmeasured {
		if r.unmeasured == nil {
			r.unmeasured, r.unmeasuredKept = map[string][]time.Time{}, map[string][]probes.Sample{}
		}
		r.unmeasured[s.Probe] = append(r.unmeasured[s.Probe], s.End())
		if len(r.unmeasuredKept[s.Probe]) < maxUnmeasuredKept {
			r.unmeasuredKept[s.Probe] = append(r.unmeasuredKept[s.Probe], s)
		}
	} else {
		if r.byProbe == nil {
			r.byProbe = map[string]*packedSeries{}
		}
		ss := r.byProbe[s.Probe]
		if ss == nil {
			ss = &packedSeries{probe: s.Probe}
			r.byProbe[s.Probe] = ss
		}
		ss.add(s)
		r.n++
	}
	r.mu.Unlock()
	if r.sink != nil {
		r.sinkMu.Lock()
		if r.sinkErr == nil {
			r.sinkErr = r.sink.Record(s)
		}
		r.sinkMu.Unlock()
	}
	if r.notify != nil {
		r.notify(s)
	}
}

// unmeasuredIn is how many of probe's samples that ended in [from, to)
// measured nothing, and why the first of the run did not.
func (r *recorder) unmeasuredIn(probe string, from, to time.Time) (int, string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for _, t := range r.unmeasured[probe] {
		if !t.Before(from) && t.Before(to) {
			n++
		}
	}
	why := ""
	if kept := r.unmeasuredKept[probe]; len(kept) > 0 {
		why = kept[0].Err
	}
	return n, why
}

// withUnmeasured is samples and the unmeasured ones kept, ordered by
// start time as a journal's samples are.
func (r *recorder) withUnmeasured(samples []probes.Sample) []probes.Sample {
	r.mu.RLock()
	n := len(samples)
	for _, kept := range r.unmeasuredKept {
		samples = append(samples, kept...)
	}
	r.mu.RUnlock()
	if len(samples) == n {
		return samples // already in order
	}
	slices.SortStableFunc(samples, func(a, b probes.Sample) int { return a.Time.Compare(b.Time) })
	return samples
}

// streaming marks probe as one that streams its samples.
func (r *recorder) streaming(probe string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.streams == nil {
		r.streams = map[string]bool{}
	}
	r.streams[probe] = true
}

// loadSeries is each streaming probe's samples aggregated per interval
// from started, in intervals as wide as a run to now needs, read in
// place (in End order, as they are kept), sorted by probe name.
func (r *recorder) loadSeries(started, now time.Time) []journal.LoadSeries {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.streams) == 0 {
		return nil
	}
	names := make([]string, 0, len(r.streams))
	for name := range r.streams {
		names = append(names, name)
	}
	slices.Sort(names)
	width := journal.LoadIntervalWidth(started, now)
	out := make([]journal.LoadSeries, 0, len(names))
	for _, name := range names {
		agg := journal.NewLoadAggregator(name, started, width)
		if ss := r.byProbe[name]; ss != nil {
			b := 0
			for i := range ss.len() {
				for b+1 < len(ss.blockFirst) && ss.blockFirst[b+1] <= i {
					b++
				}
				agg.Add(ss.sample(i, b))
			}
		}
		out = append(out, agg.Series())
	}
	return out
}

// window returns a copy of probe's samples known in [from, to].
func (r *recorder) window(probe string, from, to time.Time) []probes.Sample {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ss := r.byProbe[probe]
	if ss == nil {
		return nil
	}
	// As between (slo.go) finds them.
	lo := ss.search(func(s probes.Sample) bool { return !s.End().Before(from) })
	hi := ss.search(func(s probes.Sample) bool { return s.End().After(to) })
	if lo >= hi {
		return nil
	}
	return ss.appendRange(make([]probes.Sample, 0, hi-lo), lo, hi)
}

// packedSeq reads a packed series in place (an slo.Seq); the recorder's
// read lock must be held while it is used.
type packedSeq struct{ s *packedSeries }

func (p packedSeq) Len() int               { return p.s.len() }
func (p packedSeq) At(i int) probes.Sample { return p.s.at(i) }

// figure is o's figure over its probe's samples known in [from, to], read
// in place: a long phase costs its latencies, not a copy of its samples.
func (r *recorder) figure(o slo.Objective, from, to time.Time) journal.SLOFigure {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ss := r.byProbe[o.Probe]
	if ss == nil {
		return o.Figure(nil)
	}
	sq := packedSeq{ss}
	lo, hi := slo.Bounds(sq, from, to)
	return o.FigureSeq(sq, lo, hi, nil)
}

// breachDuring is objective.breachDuring over the recorded samples, read
// in place.
func (r *recorder) breachDuring(o slo.Objective, from, to time.Time) (time.Time, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ss := r.byProbe[o.Probe]
	if ss == nil {
		return time.Time{}, false
	}
	return o.BreachSeq(packedSeq{ss}, from, to)
}

// errorRatio is the percentage of probe's samples known in [from, to] that
// failed, and how many there were, read in place.
func (r *recorder) errorRatio(probe string, from, to time.Time) (float64, int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ss := r.byProbe[probe]
	if ss == nil {
		return 0, 0
	}
	sq := packedSeq{ss}
	lo, hi := slo.Bounds(sq, from, to)
	if hi <= lo {
		return 0, 0
	}
	bad := 0
	for i := lo; i < hi; i++ {
		if !sq.At(i).OK {
			bad++
		}
	}
	return 100 * float64(bad) / float64(hi-lo), hi - lo
}

// judge runs j over its probe's samples known in [j.From, now], read in
// place under the read lock: no poll of the recovery phase copies them.
func (r *recorder) judge(j slo.Judge, now time.Time) slo.Judgement {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ss := r.byProbe[j.O.Probe]
	if ss == nil {
		return j.AtSeq(slo.SliceSeq(nil), now)
	}
	sq := packedSeq{ss}
	lo, hi := slo.Bounds(sq, j.From, now)
	return j.AtSeq(slo.View{S: sq, Lo: lo, Hi: hi}, now)
}

// snapshot returns every sample so far, ordered by start time.
func (r *recorder) snapshot() []probes.Sample {
	r.mu.RLock()
	out := make([]probes.Sample, 0, r.n)
	for _, ss := range r.byProbe {
		out = ss.appendRange(out, 0, ss.len())
	}
	r.mu.RUnlock()
	slices.SortStableFunc(out, func(a, b probes.Sample) int { return a.Time.Compare(b.Time) })
	return out
}

// thinned is every sample so far through th, which thins them.
func (r *recorder) thinned(th *journal.Thinner) []probes.Sample {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, ss := range r.byProbe {
		b := 0
		for i := range ss.len() {
			for b+1 < len(ss.blockFirst) && ss.blockFirst[b+1] <= i {
				b++
			}
			th.Add(ss.sample(i, b))
		}
	}
	return th.Samples()
}

// span is the first start and the last end of the samples so far.
func (r *recorder) span() (first, last time.Time) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, ss := range r.byProbe {
		for i := range ss.len() {
			s := ss.at(i)
			if first.IsZero() || s.Time.Before(first) {
				first = s.Time
			}
		}
		if n := ss.len(); n > 0 {
			if e := ss.at(n - 1).End(); e.After(last) {
				last = e
			}
		}
	}
	return first, last
}

// A journal with up to journal.MaxWholeSamples samples keeps every one.
// A longer run's journal, when it has a sample log, keeps them thinned to
// journal.ThinPoints buckets over the run: the log has them all.
const (
	maxJournalSamples = journal.MaxWholeSamples
	journalPoints     = journal.ThinPoints
)

// journalSamples are the samples a journal carries, and, when thinned,
// what says so; and the streaming probes' per-interval aggregates.
type journalSamples struct {
	samples    []probes.Sample
	total      int
	resolution time.Duration
	log        string
	load       []journal.LoadSeries
}

// forJournal is what the journal of a run started at started keeps of the
// samples, at its end at now.
func (r *recorder) forJournal(started, now time.Time) journalSamples {
	r.mu.RLock()
	n := r.n
	r.mu.RUnlock()
	load := r.loadSeries(started, now)
	if r.sink == nil || n <= maxJournalSamples {
		return journalSamples{samples: r.withUnmeasured(r.snapshot()), load: load}
	}
	first, last := r.span()
	from, to := started, now
	if first.Before(from) {
		from = first
	}
	if last.After(to) {
		to = last
	}
	width := journal.ThinWidth(from, to, journalPoints)
	return journalSamples{
		samples: r.withUnmeasured(r.thinned(journal.NewThinner(from, width, 2*journalPoints))),
		total:   n, resolution: width, log: r.sink.Path(), load: load,
	}
}

// release drops every sample once the journal has what it keeps of them.
func (r *recorder) release() {
	r.mu.Lock()
	r.byProbe = nil
	r.mu.Unlock()
}

// closeSink closes the sink once sampling is over, and says what went
// wrong with it, if anything.
func (r *recorder) closeSink() error {
	r.sinkMu.Lock()
	defer r.sinkMu.Unlock()
	if r.sink == nil {
		return nil
	}
	err := r.sink.Close()
	if r.sinkErr != nil {
		err = r.sinkErr
	}
	return err
}

// maxInFlight bounds concurrent attempts of one probe: a hung target must
// not turn a 10 Hz probe into an unbounded goroutine pile.
const maxInFlight = 64

// sample runs p every interval until ctx ends. Attempts overlap when the
// target is slow (so an outage shows up as failures at the probe's rate,
// not as one long attempt), up to maxInFlight; a tick with every attempt
// slot busy is skipped.
//
// Attempts run on worker goroutines that wait for the next tick once their
// attempt is done, rather than on a new goroutine per attempt: a fresh
// goroutine grows its stack again through the whole probe call every time,
// which was a tenth of the CPU of 100 HTTP probes at 10 Hz.
//
// A prober that streams (probes.Streamer, such as a load probe) paces
// itself: its Stream runs once instead, and every sample it emits is
// recorded. A stream that ends in error before ctx says so in one failed
// sample, so the probe's SLOs see it.
func sample(ctx context.Context, name string, p probes.Prober, interval, timeout time.Duration, rec *recorder) {
	if st, ok := p.(probes.Streamer); ok {
		rec.streaming(name)
		err := st.Stream(ctx, timeout, func(s probes.Sample) {
			if ctx.Err() == nil {
				s.Probe = name
				rec.add(s)
			}
		})
		if err != nil && ctx.Err() == nil {
			rec.add(probes.Sample{Probe: name, Time: time.Now(), Err: "stream: " + err.Error()})
		}
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if w, ok := p.(probes.Watcher); ok {
		wg.Go(func() {
			err := w.Watch(ctx, func(s probes.Sample) {
				if ctx.Err() == nil {
					s.Probe = name
					rec.add(s)
				}
			})
			if err != nil && ctx.Err() == nil {
				rec.add(probes.Sample{Probe: name, Time: time.Now(), Err: "watch: " + err.Error()})
			}
		})
	}
	ticks := make(chan struct{}) // unbuffered: a send succeeds only when a worker is idle
	attempt := func() {
		actx, cancel := context.WithTimeout(ctx, timeout)
		s := p.Probe(actx)
		cancel()
		if ctx.Err() != nil {
			return // the run is over; a cancelled attempt says nothing about the target
		}
		s.Probe = name
		rec.add(s)
	}
	worker := func() {
		defer wg.Done()
		for {
			attempt()
			select {
			case <-ctx.Done():
				return
			case <-ticks:
			}
		}
	}
	workers := 0
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case ticks <- struct{}{}:
		default:
			if workers < maxInFlight {
				workers++
				wg.Add(1)
				go worker()
			}
			// else every slot is busy: skip this tick
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
