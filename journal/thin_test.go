package journal

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/chaosctl/chaosctl/probes"
)

// Each bucket keeps its first failure and its fastest and slowest ok
// samples, whatever order they come in; a probe with few samples is kept
// whole.
func TestThinnerKeepsFailuresAndLatencyEnvelope(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	in := []probes.Sample{
		// bucket 0 [0, 1s), given out of order
		{Probe: "a", Time: at(500), OK: true, Latency: 9},
		{Probe: "a", Time: at(100), OK: true, Latency: 5},
		{Probe: "a", Time: at(300), Err: "second failure"},
		{Probe: "a", Time: at(200), Err: "first failure"},
		{Probe: "a", Time: at(400), OK: true, Latency: 1},
		{Probe: "a", Time: at(600), OK: true, Latency: 7},
		// bucket 1: ok samples that all took as long: one is kept
		{Probe: "a", Time: at(1100), OK: true, Latency: 3},
		{Probe: "a", Time: at(1200), OK: true, Latency: 3},
		// bucket 2: failures only
		{Probe: "a", Time: at(2500), Err: "x"},
		{Probe: "a", Time: at(2600), Err: "y"},
		// another probe, few samples: whole
		{Probe: "b", Time: at(10), OK: true},
		{Probe: "b", Time: at(20), OK: true},
	}
	th := NewThinner(t0, time.Second, 3)
	for _, s := range in {
		th.Add(s)
	}
	got := th.Samples()
	want := []probes.Sample{in[10], in[11], in[3], in[4], in[0], in[6], in[8]}
	assert.Equal(t, want, got)
	assert.Equal(t, time.Second, th.Width())

	// A width of 0 keeps everything, sorted by start.
	all := NewThinner(t0, 0, 0)
	for _, s := range in {
		all.Add(s)
	}
	assert.Len(t, all.Samples(), len(in))
}

// A sample that started before from falls in a bucket of its own (floor).
func TestThinnerBucketsBeforeFrom(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	th := NewThinner(t0, time.Second, 0)
	th.Add(probes.Sample{Probe: "a", Time: t0.Add(-100 * time.Millisecond), Err: "before"})
	th.Add(probes.Sample{Probe: "a", Time: t0.Add(100 * time.Millisecond), Err: "after"})
	assert.Len(t, th.Samples(), 2)
}
