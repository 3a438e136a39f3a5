package experiments

import (
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/probes"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// series makes one sample every step starting at t0, ok per the pattern
// ('.' ok, 'x' failed), each taking lat.
func series(pattern string, step, lat time.Duration) []probes.Sample {
	out := make([]probes.Sample, len(pattern))
	for i, c := range pattern {
		out[i] = probes.Sample{Probe: "p", Time: t0.Add(time.Duration(i) * step), OK: c == '.', Latency: lat}
	}
	return out
}

func f64(f float64) *float64 { return &f }

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
		if got := percentile(tt.in, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %g) = %v, want %v", tt.in, tt.p, got, tt.want)
		}
	}
}

func TestFigure(t *testing.T) {
	tests := []struct {
		name     string
		o        objective
		pattern  string
		lat      time.Duration
		wantAv   float64
		wantHeld bool
	}{
		{"no samples never hold", objective{availability: 99}, "", time.Millisecond, 0, false},
		{"all ok", objective{availability: 99}, "..........", time.Millisecond, 100, true},
		{"one in ten fails 99%", objective{availability: 99}, ".........x", time.Millisecond, 90, false},
		{"one in ten fails 90%", objective{availability: 90}, ".........x", time.Millisecond, 90, true},
		{"latency under", objective{percentile: 99, latencyMax: 300 * time.Millisecond}, ".....", 100 * time.Millisecond, 100, true},
		{"latency over", objective{percentile: 99, latencyMax: 300 * time.Millisecond}, ".....", 310 * time.Millisecond, 100, false},
		{"latency equal is a breach", objective{percentile: 99, latencyMax: 300 * time.Millisecond}, ".....", 300 * time.Millisecond, 100, false},
		{"latency only, every sample failed", objective{percentile: 99, latencyMax: time.Second}, "xxxx", time.Millisecond, 0, false},
		{"both, availability breaks", objective{availability: 100, percentile: 50, latencyMax: time.Second}, "..x..", time.Millisecond, 80, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.o.figure(series(tt.pattern, 100*time.Millisecond, tt.lat))
			if f.Availability != tt.wantAv || f.Held != tt.wantHeld {
				t.Errorf("figure = availability %v held %v, want %v %v", f.Availability, f.Held, tt.wantAv, tt.wantHeld)
			}
		})
	}
}

func TestRecoveredAt(t *testing.T) {
	const step = 100 * time.Millisecond
	const lat = 10 * time.Millisecond
	tests := []struct {
		name    string
		pattern string
		hold    time.Duration
		// want is the index of the sample whose end is the recovery
		// instant; -1: recovery is instant (from); -2: not known.
		want int
	}{
		{"never broke", "..........", 300 * time.Millisecond, -1},
		{"outage then ok", "xxxx......", 300 * time.Millisecond, 4},
		{"blip after first ok restarts the window", "xx.x......", 300 * time.Millisecond, 4},
		{"ok but hold window not complete yet", "xxxxxxx...", 500 * time.Millisecond, -2},
		{"never recovers", "xxxxxxxxxx", 300 * time.Millisecond, -2},
	}
	o := objective{name: "s", probe: "p", availability: 100, window: time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := series(tt.pattern, step, lat)
			last := s[len(s)-1].End()
			at, ok := o.recoveredAt(s, t0, last, tt.hold)
			switch tt.want {
			case -2:
				if ok {
					t.Fatalf("recovered at %v, want unknown", at.Sub(t0))
				}
			case -1:
				if !ok || !at.Equal(t0) {
					t.Fatalf("recoveredAt = %v %v, want instant", at.Sub(t0), ok)
				}
			default:
				if want := s[tt.want].End(); !ok || !at.Equal(want) {
					t.Fatalf("recoveredAt = %v %v, want %v", at.Sub(t0), ok, want.Sub(t0))
				}
			}
		})
	}
}

func TestBreachDuring(t *testing.T) {
	o := objective{probe: "p", availability: 50, window: 300 * time.Millisecond}
	s := series("....xxx...", 100*time.Millisecond, 0)
	at, ok := o.breachDuring(s, t0, s[len(s)-1].End())
	// Windows are closed at both ends: the one ending at sample 5 holds
	// samples 2..5 (two ok of four, held); the one ending at 6 holds 3..6.
	if !ok || !at.Equal(s[6].End()) {
		t.Fatalf("breach = %v %v, want at sample 6", at.Sub(t0), ok)
	}
	if _, ok := o.breachDuring(series("..........", 100*time.Millisecond, 0), t0, t0.Add(time.Second)); ok {
		t.Fatal("breach reported on an all-ok series")
	}
	// The window ending at the first sample judged reaches back before
	// from: one failure among ok samples is not a breach of 50%.
	s = series("...x......", 100*time.Millisecond, 0)
	if at, ok := o.breachDuring(s, s[3].End(), s[9].End()); ok {
		t.Fatalf("breach at %v: the window was cut at from", at.Sub(t0))
	}
}

func TestErrorRatio(t *testing.T) {
	s := series("..xx", 100*time.Millisecond, 0)
	r, n := errorRatio(s, t0, t0.Add(time.Second))
	if r != 50 || n != 4 {
		t.Fatalf("errorRatio = %v over %d, want 50 over 4", r, n)
	}
}
