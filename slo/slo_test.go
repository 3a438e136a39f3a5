package slo

import (
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// series makes one sample every step starting at t0, ok per the pattern
// ('.' ok, 'x' failed, ' ' no sample), each taking lat.
func series(pattern string, step, lat time.Duration) []probes.Sample {
	var out []probes.Sample
	for i, c := range pattern {
		if c != ' ' {
			out = append(out, probes.Sample{Probe: "p", Time: t0.Add(time.Duration(i) * step), OK: c == '.', Latency: lat})
		}
	}
	return out
}

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, v := range n {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 99, 0},
		{ms(5), 50, 5 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 50, 5 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 100, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := journal.Percentile(tt.in, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %g) = %v, want %v", tt.in, tt.p, got, tt.want)
		}
	}
}

func TestFigure(t *testing.T) {
	tests := []struct {
		name     string
		o        Objective
		pattern  string
		lat      time.Duration
		wantAv   float64
		wantHeld bool
	}{
		{"no samples never hold", Objective{Availability: 99}, "", time.Millisecond, 0, false},
		{"all ok", Objective{Availability: 99}, "..........", time.Millisecond, 100, true},
		{"one in ten fails 99%", Objective{Availability: 99}, ".........x", time.Millisecond, 90, false},
		{"one in ten fails 90%", Objective{Availability: 90}, ".........x", time.Millisecond, 90, true},
		{"latency under", Objective{Percentile: 99, LatencyMax: 300 * time.Millisecond}, ".....", 100 * time.Millisecond, 100, true},
		{"latency over", Objective{Percentile: 99, LatencyMax: 300 * time.Millisecond}, ".....", 310 * time.Millisecond, 100, false},
		{"latency equal is a breach", Objective{Percentile: 99, LatencyMax: 300 * time.Millisecond}, ".....", 300 * time.Millisecond, 100, false},
		{"latency only, every sample failed", Objective{Percentile: 99, LatencyMax: time.Second}, "xxxx", time.Millisecond, 0, false},
		{"both, availability breaks", Objective{Availability: 100, Percentile: 50, LatencyMax: time.Second}, "..x..", time.Millisecond, 80, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.o.Figure(series(tt.pattern, 100*time.Millisecond, tt.lat))
			if f.Availability != tt.wantAv || f.Held != tt.wantHeld {
				t.Errorf("figure = availability %v held %v, want %v %v", f.Availability, f.Held, tt.wantAv, tt.wantHeld)
			}
		})
	}
}

func TestJudge(t *testing.T) {
	const step = 100 * time.Millisecond
	const lat = 10 * time.Millisecond
	end := func(i int) time.Time { return t0.Add(time.Duration(i)*step + lat) }
	const (
		none    = -2 // no recovery instant
		instant = -1 // recovery is from itself: service never broke
	)
	tests := []struct {
		name      string
		pattern   string
		lastEvent int // index of the step at which the last fault event happened; -1: from
		hold      time.Duration
		watch     time.Duration
		at        int // index of the sample whose end is the recovery instant, or none/instant
		confirmed bool
		relapse   int // index of the sample where the relapse shows; -1 none
		done      bool
		gapFrom   int // index of the sample before a gap; -1 none
	}{
		{"never broke", "..........", -1, 300 * time.Millisecond, 300 * time.Millisecond, instant, true, -1, true, -1},
		{"outage then ok", "xxxx........", -1, 300 * time.Millisecond, 300 * time.Millisecond, 4, true, -1, true, -1},
		{"blip after first ok restarts the window", "xx...x......", -1, 300 * time.Millisecond, 0, 6, true, -1, true, -1},
		{"ok but hold window not complete yet", "xxxxxxx...", -1, 500 * time.Millisecond, 0, 7, false, -1, false, -1},
		{"never recovers", "xxxxxxxxxx", -1, 300 * time.Millisecond, 0, none, false, -1, false, -1},
		// The false pass: healthy until a second fault bites at
		// +500ms, after a first hold window had held.
		{"late-biting last fault", ".....xxxxxxxxxx", 5, 200 * time.Millisecond, 200 * time.Millisecond, none, false, -1, false, -1},
		{"broke and came back before the last fault event", "..xx.........", 8, 300 * time.Millisecond, 0, 4, true, -1, true, -1},
		{"confirmation waits for hold after the last fault event", "..........", 8, 300 * time.Millisecond, 0, instant, false, -1, false, -1},
		{"relapse after confirmation", "xx..........xx..", -1, 300 * time.Millisecond, 900 * time.Millisecond, 2, true, 12, true, -1},
		{"relapse after the watch is not looked at", "xx..........xx..", -1, 300 * time.Millisecond, 300 * time.Millisecond, 2, true, -1, true, -1},
		{"gap without samples", "xx..      ......", -1, 300 * time.Millisecond, time.Second, 2, true, -1, true, 3},
	}
	o := Objective{Name: "s", Probe: "p", Availability: 100, Window: time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := series(tt.pattern, step, lat)
			last := s[len(s)-1].End()
			L := t0
			if tt.lastEvent >= 0 {
				L = t0.Add(time.Duration(tt.lastEvent) * step)
			}
			j := Judge{O: o, From: t0, LastEvent: L, Hold: tt.hold, Watch: tt.watch}
			got := j.At(s, last)
			switch tt.at {
			case none:
				if !got.At.IsZero() {
					t.Fatalf("recovered at +%v, want none", got.At.Sub(t0))
				}
			case instant:
				if !got.At.Equal(t0) {
					t.Fatalf("recovered at +%v, want instant", got.At.Sub(t0))
				}
			default:
				if !got.At.Equal(end(tt.at)) {
					t.Fatalf("recovered at +%v, want +%v", got.At.Sub(t0), end(tt.at).Sub(t0))
				}
			}
			if got.Confirmed != tt.confirmed {
				t.Errorf("confirmed = %v, want %v", got.Confirmed, tt.confirmed)
			}
			if tt.relapse < 0 && !got.RelapsedAt.IsZero() {
				t.Errorf("relapsed at +%v, want no relapse", got.RelapsedAt.Sub(t0))
			}
			if tt.relapse >= 0 && !got.RelapsedAt.Equal(end(tt.relapse)) {
				t.Errorf("relapsed at +%v, want +%v", got.RelapsedAt.Sub(t0), end(tt.relapse).Sub(t0))
			}
			if got.Done != tt.done {
				t.Errorf("done = %v, want %v", got.Done, tt.done)
			}
			if tt.gapFrom < 0 && !got.GapFrom.IsZero() {
				t.Errorf("gap from +%v, want none", got.GapFrom.Sub(t0))
			}
			if tt.gapFrom >= 0 && !got.GapFrom.Equal(end(tt.gapFrom)) {
				t.Errorf("gap from +%v, want +%v", got.GapFrom.Sub(t0), end(tt.gapFrom).Sub(t0))
			}
		})
	}
}

// TestJudgeNeverConfirmsBeforeTheLastFault replays the false pass
// sample by sample: however the samples before the second fault look, no
// instant is confirmed until hold_for after it.
func TestJudgeNeverConfirmsBeforeTheLastFault(t *testing.T) {
	s := series("........................................", 100*time.Millisecond, time.Millisecond)
	L := t0.Add(2 * time.Second)
	j := Judge{O: Objective{Probe: "p", Availability: 100}, From: t0, LastEvent: L, Hold: 500 * time.Millisecond}
	for i := range s {
		got := j.At(s[:i+1], s[i].End())
		if want := !s[i].End().Before(L.Add(j.Hold)); got.Confirmed != want {
			t.Fatalf("at +%v: confirmed = %v, want %v", s[i].End().Sub(t0), got.Confirmed, want)
		}
	}
}

func TestBreachDuring(t *testing.T) {
	o := Objective{Probe: "p", Availability: 50, Window: 300 * time.Millisecond}
	s := series("....xxx...", 100*time.Millisecond, 0)
	at, ok := o.BreachDuring(s, t0, s[len(s)-1].End())
	// Windows are closed at both ends: the one ending at sample 5 holds
	// samples 2..5 (two ok of four, held); the one ending at 6 holds 3..6.
	if !ok || !at.Equal(s[6].End()) {
		t.Fatalf("breach = %v %v, want at sample 6", at.Sub(t0), ok)
	}
	if _, ok := o.BreachDuring(series("..........", 100*time.Millisecond, 0), t0, t0.Add(time.Second)); ok {
		t.Fatal("breach reported on an all-ok series")
	}
	// The window ending at the first sample judged reaches back before
	// from: one failure among ok samples is not a breach of 50%.
	s = series("...x......", 100*time.Millisecond, 0)
	if at, ok := o.BreachDuring(s, s[3].End(), s[9].End()); ok {
		t.Fatalf("breach at %v: the window was cut at from", at.Sub(t0))
	}
}

func TestErrorRatio(t *testing.T) {
	s := series("..xx", 100*time.Millisecond, 0)
	r, n := ErrorRatio(s, t0, t0.Add(time.Second))
	if r != 50 || n != 4 {
		t.Fatalf("errorRatio = %v over %d, want 50 over 4", r, n)
	}
}

// TestJudgeCacheAgrees: a judge that remembers closed windows across polls
// says, at every poll, what a judge without memory says, on every series
// of TestJudge's kind, as samples arrive one by one.
func TestJudgeCacheAgrees(t *testing.T) {
	o := Objective{Name: "s", Probe: "p", Availability: 100, Window: time.Second}
	for _, pattern := range []string{"..........", "xxxx........", "xx...x......", ".....xxxxxxxxxx", "..xx.........", "xx..........xx..", "xx..      ......"} {
		for _, lastEvent := range []int{-1, 3, 8} {
			s := series(pattern, 100*time.Millisecond, 10*time.Millisecond)
			L := t0
			if lastEvent >= 0 {
				L = t0.Add(time.Duration(lastEvent) * 100 * time.Millisecond)
			}
			plain := Judge{O: o, From: t0, LastEvent: L, Hold: 300 * time.Millisecond, Watch: 900 * time.Millisecond}
			cached := plain.WithCache()
			for i := range s {
				last := s[i].End()
				if got, want := cached.At(s[:i+1], last), plain.At(s[:i+1], last); got != want {
					t.Fatalf("%q, last event %d, poll %d: cached %+v, plain %+v", pattern, lastEvent, i, got, want)
				}
			}
		}
	}
}
