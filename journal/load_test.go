package journal

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosctl/chaosctl/probes"
)

var loadT0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// ended is a sample of probe "load" whose outcome became known at ms
// (milliseconds from loadT0) after lat.
func ended(ms int, lat time.Duration, ok bool) probes.Sample {
	s := probes.Sample{Probe: "load", Time: loadT0.Add(time.Duration(ms)*time.Millisecond - lat), Latency: lat, OK: ok}
	if !ok {
		s.Err = "status 503, want 2xx"
	}
	return s
}

func TestLoadAggregator(t *testing.T) {
	ms := time.Millisecond
	at := func(s int) time.Time { return loadT0.Add(time.Duration(s) * time.Second) }
	// 100 ok requests with latencies 1..100ms in the first second.
	var hundred []probes.Sample
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, ended(i*5, time.Duration(i)*ms, true))
	}
	for _, tc := range []struct {
		name   string
		width  time.Duration
		in     []probes.Sample
		want   []LoadInterval
		totals [3]int // requests, ok, failed
	}{
		{name: "no samples", want: []LoadInterval{}},
		{
			name: "nearest-rank percentiles of one interval", in: hundred,
			want:   []LoadInterval{{Start: at(0), Requests: 100, OK: 100, P50: 50 * ms, P90: 90 * ms, P99: 99 * ms, Max: 100 * ms}},
			totals: [3]int{100, 100, 0},
		},
		{
			name:   "failures count, their latency does not",
			in:     []probes.Sample{ended(100, 2*ms, true), ended(200, 900*ms, false), ended(300, 4*ms, true), ended(400, time.Second, false)},
			want:   []LoadInterval{{Start: at(0), Requests: 4, OK: 2, Failed: 2, P50: 2 * ms, P90: 4 * ms, P99: 4 * ms, Max: 4 * ms}},
			totals: [3]int{4, 2, 2},
		},
		{
			name:   "only failures: no latency figures",
			in:     []probes.Sample{ended(100, 0, false), ended(200, 0, false)},
			want:   []LoadInterval{{Start: at(0), Requests: 2, Failed: 2}},
			totals: [3]int{2, 0, 2},
		},
		{
			name: "by when the outcome became known, not the start",
			// Started in second 0, answered in second 1.
			in:     []probes.Sample{ended(1200, 500*ms, true)},
			want:   []LoadInterval{{Start: at(1), Requests: 1, OK: 1, P50: 500 * ms, P90: 500 * ms, P99: 500 * ms, Max: 500 * ms}},
			totals: [3]int{1, 1, 0},
		},
		{
			name: "an interval is [start, start+width)",
			in:   []probes.Sample{ended(999, ms, true), ended(1000, 3*ms, true)},
			want: []LoadInterval{
				{Start: at(0), Requests: 1, OK: 1, P50: ms, P90: ms, P99: ms, Max: ms},
				{Start: at(1), Requests: 1, OK: 1, P50: 3 * ms, P90: 3 * ms, P99: 3 * ms, Max: 3 * ms},
			},
			totals: [3]int{2, 2, 0},
		},
		{
			name: "a silent interval between two is there, empty",
			in:   []probes.Sample{ended(500, ms, true), ended(2500, ms, false)},
			want: []LoadInterval{
				{Start: at(0), Requests: 1, OK: 1, P50: ms, P90: ms, P99: ms, Max: ms},
				{Start: at(1)},
				{Start: at(2), Requests: 1, Failed: 1},
			},
			totals: [3]int{2, 1, 1},
		},
		{
			name:  "wider intervals",
			width: 5 * time.Second,
			in:    []probes.Sample{ended(500, ms, true), ended(4900, 2*ms, true), ended(5000, ms, false)},
			want: []LoadInterval{
				{Start: at(0), Requests: 2, OK: 2, P50: ms, P90: 2 * ms, P99: 2 * ms, Max: 2 * ms},
				{Start: at(5), Requests: 1, Failed: 1},
			},
			totals: [3]int{3, 2, 1},
		},
		{
			name:   "before the run's start: floor",
			in:     []probes.Sample{ended(-1, ms, true)},
			want:   []LoadInterval{{Start: at(-1), Requests: 1, OK: 1, P50: ms, P90: ms, P99: ms, Max: ms}},
			totals: [3]int{1, 1, 0},
		},
		{
			name:   "out of order: counted in the interval being filled",
			in:     []probes.Sample{ended(1500, ms, true), ended(900, ms, false)},
			want:   []LoadInterval{{Start: at(1), Requests: 2, OK: 1, Failed: 1, P50: ms, P90: ms, P99: ms, Max: ms}},
			totals: [3]int{2, 1, 1},
		},
		{
			name: "a gap past the bound is not filled",
			in:   []probes.Sample{ended(0, 0, false), ended((maxGapFill+2)*1000, 0, false)},
			want: []LoadInterval{
				{Start: at(0), Requests: 1, Failed: 1},
				{Start: at(maxGapFill + 2), Requests: 1, Failed: 1},
			},
			totals: [3]int{2, 0, 2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewLoadAggregator("load", loadT0, tc.width)
			for _, s := range tc.in {
				a.Add(s)
			}
			got := a.Series()
			width := tc.width
			if width == 0 {
				width = time.Second
			}
			assert.Equal(t, LoadSeries{Probe: "load", Interval: width, Requests: tc.totals[0], OK: tc.totals[1], Failed: tc.totals[2], Intervals: tc.want}, got)
		})
	}
}

func TestLoadIntervalWidth(t *testing.T) {
	for _, tc := range []struct {
		span, want time.Duration
	}{
		{0, time.Second},
		{10 * time.Minute, time.Second},
		{time.Hour, time.Second},
		{time.Hour + time.Nanosecond, 2 * time.Second},
		{6 * time.Hour, 6 * time.Second},
		{6*time.Hour + time.Second, 7 * time.Second},
		{-time.Minute, time.Second},
	} {
		got := LoadIntervalWidth(loadT0, loadT0.Add(tc.span))
		assert.Equal(t, tc.want, got, "span %s", tc.span)
		if tc.span > 0 {
			assert.LessOrEqual(t, int(tc.span/got), MaxLoadIntervals, "span %s", tc.span)
		}
	}
}

// TestLoadAggregatorBounded: 1000 req/s for 10 minutes (600,000 requests)
// become 600 intervals, a few tens of KiB of JSON, while the aggregator
// holds one interval's latencies at a time.
func TestLoadAggregatorBounded(t *testing.T) {
	const rate, secs = 1000, 600
	a := NewLoadAggregator("load", loadT0, LoadIntervalWidth(loadT0, loadT0.Add(secs*time.Second)))
	maxHeld := 0
	for i := range rate * secs {
		end := time.Duration(i) * time.Second / rate
		lat := time.Duration(100+i%900) * time.Microsecond
		a.Add(probes.Sample{Probe: "load", Time: loadT0.Add(end - lat), Latency: lat, OK: i%97 != 0})
		maxHeld = max(maxHeld, cap(a.lat))
	}
	s := a.Series()
	require.Len(t, s.Intervals, secs)
	assert.Equal(t, rate*secs, s.Requests)
	assert.Equal(t, s.Requests, s.OK+s.Failed)
	sum := 0
	for _, iv := range s.Intervals {
		sum += iv.Requests
		assert.Equal(t, rate, iv.Requests, "interval %s", iv.Start)
	}
	assert.Equal(t, s.Requests, sum)
	assert.LessOrEqual(t, maxHeld, 2*rate, "latencies held at once")
	b, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Less(t, len(b), 100<<10, "JSON of 600 intervals")
	t.Logf("600,000 requests: %d intervals, %d bytes of JSON", len(s.Intervals), len(b))
}
