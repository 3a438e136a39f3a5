package experiments

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/slo"
)

// refWindow is the recorder as it was before samples were packed: every
// sample whole, in End order, windows by between.
func refWindow(samples []probes.Sample) Samples {
	by := map[string][]probes.Sample{}
	for _, s := range samples {
		ss := by[s.Probe]
		i := len(ss)
		for i > 0 && ss[i-1].End().After(s.End()) {
			i--
		}
		by[s.Probe] = slices.Insert(ss, i, s)
	}
	return func(probe string, from, to time.Time) []probes.Sample {
		return slices.Clone(slo.Between(by[probe], from, to))
	}
}

// Packed samples come back exactly as they went in, and windows hold the
// same samples in the same order as the unpacked recorder's, whatever the
// order they came in, the latencies (negative, past 4.3 s), the values
// (NaN, never repeating) and the clocks (monotonic or not, other zones).
func TestPackedRecorderIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Now() // with a monotonic reading, as probes' samples have
	zone := time.FixedZone("X", 3600)
	var in []probes.Sample
	for i := range 5000 {
		s := probes.Sample{Probe: fmt.Sprintf("p%d", i%3), OK: rng.IntN(4) > 0, Value: 200,
			Time:    t0.Add(time.Duration(i)*10*time.Millisecond + time.Duration(rng.IntN(200))*time.Millisecond),
			Latency: time.Duration(rng.IntN(50_000_000))}
		switch rng.IntN(40) {
		case 0:
			s.Latency = 6 * time.Second // past a uint32 of nanoseconds
		case 1:
			s.Latency = -time.Millisecond
		case 2:
			s.Time = s.Time.Round(0) // no monotonic reading
		case 3:
			s.Time = s.Time.In(zone)
		case 4:
			s.Value = math.NaN()
		case 5:
			s.Value = rng.Float64() // never repeats
		}
		if !s.OK {
			s.Err = fmt.Sprintf("error %d", rng.IntN(3))
		}
		in = append(in, s)
	}
	rec := &recorder{}
	for _, s := range in {
		rec.add(s)
	}
	ref := refWindow(in)
	same := func(t *testing.T, want, got []probes.Sample) {
		t.Helper()
		require.Len(t, got, len(want))
		for i := range want {
			w, g := want[i], got[i]
			// == on time.Time: the same instant, monotonic reading and zone.
			if w.Time != g.Time || w.Latency != g.Latency || w.OK != g.OK || w.Err != g.Err || w.Probe != g.Probe ||
				math.Float64bits(w.Value) != math.Float64bits(g.Value) {
				t.Fatalf("sample %d: want %+v, got %+v", i, w, g)
			}
		}
	}
	for p := range 3 {
		probe := fmt.Sprintf("p%d", p)
		same(t, ref(probe, t0.Add(-time.Hour), t0.Add(time.Hour)), rec.window(probe, t0.Add(-time.Hour), t0.Add(time.Hour)))
		for range 50 {
			from := t0.Add(time.Duration(rng.IntN(60_000)) * time.Millisecond)
			to := from.Add(time.Duration(rng.IntN(5000)) * time.Millisecond)
			same(t, ref(probe, from, to), rec.window(probe, from, to))
		}
	}
	assert.Nil(t, rec.window("nope", t0, t0.Add(time.Hour)))
	assert.Len(t, rec.snapshot(), len(in))
}

// A probe whose values never repeat outgrows the narrow outcome index.
func TestPackedWidensOutcomes(t *testing.T) {
	t0 := time.Now()
	var s packedSeries
	s.probe = "p"
	n := maxInterned + 10
	for i := range n {
		s.add(probes.Sample{Probe: "p", Time: t0.Add(time.Duration(i) * time.Millisecond), OK: true, Value: float64(i) + 0.5})
	}
	require.Equal(t, n, s.len())
	assert.True(t, s.out.isWide)
	for _, i := range []int{0, maxInterned - 1, maxInterned, n - 1} {
		assert.Equal(t, float64(i)+0.5, s.at(i).Value)
		assert.Equal(t, t0.Add(time.Duration(i)*time.Millisecond), s.at(i).Time)
	}
}

type memSink struct {
	got    []probes.Sample
	closed int
}

func (m *memSink) Record(s probes.Sample) error { m.got = append(m.got, s); return nil }
func (m *memSink) Close() error                 { m.closed++; return nil }
func (m *memSink) Path() string                 { return "/var/lib/chaosctl/samples/x.jsonl" }

// A run with more samples than a journal keeps whole, and a sample log,
// has them thinned in its journal: every bucket that failed still shows.
// Without a log, or short, the journal keeps them all.
func TestForJournalThinsLongRunsWithALog(t *testing.T) {
	t0 := time.Now()
	feed := func(rec *recorder, n int) {
		for i := range n {
			s := probes.Sample{Probe: "p", Time: t0.Add(time.Duration(i) * 10 * time.Millisecond), OK: i%1000 != 7, Latency: time.Millisecond}
			rec.add(s)
		}
	}
	sink := &memSink{}
	long := newRecorder(sink, nil)
	n := 3 * maxJournalSamples
	feed(long, n)
	require.NoError(t, long.closeSink())
	js := long.forJournal(t0, t0)
	assert.Len(t, sink.got, n, "the log gets every sample")
	assert.Equal(t, 1, sink.closed)
	assert.Equal(t, n, js.total)
	assert.Equal(t, sink.Path(), js.log)
	assert.Less(t, len(js.samples), 3*journalPoints+1)
	failed := 0
	for _, s := range js.samples {
		if !s.OK {
			failed++
		}
	}
	assert.Equal(t, n/1000, failed, "every failure is alone in its bucket: all are kept")

	short := newRecorder(&memSink{}, nil)
	feed(short, maxJournalSamples)
	assert.Len(t, short.forJournal(t0, t0).samples, maxJournalSamples)
	nolog := newRecorder(nil, nil)
	feed(nolog, n)
	js = nolog.forJournal(t0, t0)
	assert.Len(t, js.samples, n)
	assert.Empty(t, js.log)
}
