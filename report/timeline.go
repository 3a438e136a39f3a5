package report

import (
	"fmt"
	"html"
	"slices"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
)

// Timeline chart geometry, in SVG user units.
const (
	chartW, chartH = 960.0, 240.0
	padL, padR     = 64.0, 16.0
	padT, padB     = 22.0, 34.0
	plotW, plotH   = chartW - padL - padR, chartH - padT - padB
)

// timeline draws one SLO's probe over the run: latency of ok samples as a
// line, failed samples as red marks along the top, fault windows shaded,
// the runbook's window tinted, the recovery instant marked and the SLO's
// latency threshold drawn.
func timeline(j *journal.Journal, s journal.SLOResult) string {
	t0, t1 := span(j)
	total := t1.Sub(t0)
	x := func(t time.Time) float64 {
		return padL + plotW*float64(t.Sub(t0))/float64(total)
	}
	var samples []probes.Sample
	var maxLat time.Duration
	for _, smp := range j.Samples {
		// An unmeasured sample (Prometheus unreachable) is no evidence
		// either way: a gap, not a failure.
		if smp.Probe == s.Probe && !smp.Unmeasured {
			samples = append(samples, smp)
			if smp.OK && smp.Latency > maxLat {
				maxLat = smp.Latency
			}
		}
	}
	samples = thin(samples, x)
	yMax := max(time.Duration(float64(maxLat)*1.15), time.Duration(float64(s.LatencyMax)*1.4), time.Millisecond)
	y := func(d time.Duration) float64 {
		return padT + plotH - plotH*min(float64(d)/float64(yMax), 1)
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`, chartW, chartH,
		html.EscapeString(fmt.Sprintf("Timeline of SLO %s on probe %s", s.Name, s.Probe)))
	fmt.Fprintf(&b, `<title>SLO %s on probe %s: latency and failures over the run</title>`, html.EscapeString(s.Name), html.EscapeString(s.Probe))
	fmt.Fprintf(&b, `<rect class="plot" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, padL, padT, plotW, plotH)

	// Runbook window, then fault windows, under everything else.
	for _, p := range j.Phases {
		if p.Name != journal.PhaseRunbook && p.Name != journal.PhaseRunbookBefore {
			continue
		}
		end := p.Ended
		if end.IsZero() {
			end = t1
		}
		x0, x1 := x(p.Started), x(end)
		fmt.Fprintf(&b, `<rect class="runbook" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s %s</title></rect>`,
			x0, padT, max(x1-x0, 2), plotH, p.Name, ms(end.Sub(p.Started)))
		if x1-x0 > 70 {
			fmt.Fprintf(&b, `<text class="label runbook-label" x="%.1f" y="%.1f">%s</text>`, x0+3, padT+plotH-4, p.Name)
		}
	}
	for _, f := range j.Faults {
		if f.InjectedAt == nil {
			continue
		}
		from, to := faultWindow(f)
		x0, x1 := x(from), x(to)
		fmt.Fprintf(&b, `<rect class="fault" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>fault %s: %s</title></rect>`,
			x0, padT, max(x1-x0, 3), plotH, html.EscapeString(f.Name), html.EscapeString(faultText(f)))
		fmt.Fprintf(&b, `<text class="label fault-label" x="%.1f" y="%.1f">%s</text>`, x0+4, padT+22, html.EscapeString(f.Name))
	}

	// Axes and grid.
	for _, tick := range yTicks(yMax) {
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, padL, y(tick), padL+plotW, y(tick))
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, padL-6, y(tick)+4, tick)
	}
	step := xStep(total)
	for t := time.Duration(0); t <= total; t += step {
		px := x(t0.Add(t))
		fmt.Fprintf(&b, `<line class="tick" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, px, padT+plotH, px, padT+plotH+4)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="middle">+%s</text>`, px, padT+plotH+17, t)
	}
	fmt.Fprintf(&b, `<text class="axis" x="12" y="%.1f" transform="rotate(-90 12 %.1f)" text-anchor="middle">latency</text>`, padT+plotH/2, padT+plotH/2)

	// SLO latency threshold.
	if s.LatencyMax > 0 {
		ty := y(s.LatencyMax)
		fmt.Fprintf(&b, `<line class="threshold" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"><title>SLO threshold: p%g &lt; %s</title></line>`, padL, ty, padL+plotW, ty, s.LatencyPercentile, s.LatencyMax)
		fmt.Fprintf(&b, `<text class="label threshold-label" x="%.1f" y="%.1f" text-anchor="end">p%g &lt; %s</text>`, padL+plotW-4, ty-4, s.LatencyPercentile, s.LatencyMax)
	}

	// Latency of ok samples: one polyline per run of ok samples.
	var pts []string
	flush := func() {
		if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline class="latency" points="%s"/>`, strings.Join(pts, " "))
		}
		pts = pts[:0]
	}
	for _, smp := range samples {
		if !smp.OK {
			flush()
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(smp.Time), y(smp.Latency)))
	}
	flush()
	for _, smp := range samples {
		px := x(smp.Time)
		if smp.OK {
			fmt.Fprintf(&b, `<circle class="ok" cx="%.1f" cy="%.1f" r="1.8"/>`, px, y(smp.Latency))
			continue
		}
		fmt.Fprintf(&b, `<path class="fail" d="M%.1f %.1fl5 5m0 -5l-5 5"><title>+%s failed: %s</title></path>`,
			px-2.5, padT+3.0, ms(smp.Time.Sub(t0)), html.EscapeString(smp.Err))
	}

	// Recovery instant.
	if rc := j.Recovery; rc != nil && rc.RecoveredAt != nil {
		rx := x(*rc.RecoveredAt)
		fmt.Fprintf(&b, `<line class="recovered" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"><title>recovered after %s</title></line>`, rx, padT, rx, padT+plotH, ms(*rc.Duration))
		fmt.Fprintf(&b, `<text class="label recovered-label" x="%.1f" y="%.1f">recovered %s</text>`, rx+4, padT+22, ms(*rc.Duration))
	}
	if rc := j.Recovery; rc != nil && rc.RelapsedAt != nil {
		rx := x(*rc.RelapsedAt)
		fmt.Fprintf(&b, `<line class="relapsed" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"><title>relapsed at +%s (SLO %s)</title></line>`,
			rx, padT, rx, padT+plotH, ms(rc.RelapsedAt.Sub(rc.From)), html.EscapeString(rc.RelapsedSLO))
		fmt.Fprintf(&b, `<text class="label relapsed-label" x="%.1f" y="%.1f">relapsed +%s</text>`, rx+4, padT+36, ms(rc.RelapsedAt.Sub(rc.From)))
	}
	if len(samples) == 0 {
		fmt.Fprintf(&b, `<text class="label" x="%.1f" y="%.1f" text-anchor="middle">no samples</text>`, padL+plotW/2, padT+plotH/2)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// thin keeps a long run's chart to what a reader can see: when there are
// more samples than two per pixel column, each column keeps its fastest
// and slowest ok sample (the latency envelope) and its first failure,
// whose note counts the others. Short runs are drawn sample by sample.
func thin(samples []probes.Sample, x func(time.Time) float64) []probes.Sample {
	if len(samples) <= 2*int(plotW) {
		return samples
	}
	out := make([]probes.Sample, 0, 3*int(plotW))
	for i := 0; i < len(samples); {
		col := int(x(samples[i].Time))
		j := i
		var lo, hi, fail *probes.Sample
		failed := 0
		for ; j < len(samples) && int(x(samples[j].Time)) == col; j++ {
			s := &samples[j]
			switch {
			case !s.OK:
				if failed++; fail == nil {
					fail = s
				}
			case lo == nil:
				lo, hi = s, s
			case s.Latency < lo.Latency:
				lo = s
			case s.Latency > hi.Latency:
				hi = s
			}
		}
		kept := []*probes.Sample{lo, hi}
		if hi == lo {
			kept = kept[:1]
		}
		for _, s := range kept {
			if s != nil {
				out = append(out, *s)
			}
		}
		if fail != nil {
			f := *fail
			if failed > 1 {
				f.Err = fmt.Sprintf("%s (and %d more failed samples here)", f.Err, failed-1)
			}
			out = append(out, f)
		}
		i = j
	}
	slices.SortStableFunc(out, func(a, b probes.Sample) int { return a.Time.Compare(b.Time) })
	return out
}

// span is the chart's time range: the run, or its samples when the run has
// no end (interrupted).
func span(j *journal.Journal) (time.Time, time.Time) {
	t0, t1 := j.StartedAt, j.EndedAt
	for _, s := range j.Samples {
		if t0.IsZero() || s.Time.Before(t0) {
			t0 = s.Time
		}
		if e := s.End(); e.After(t1) {
			t1 = e
		}
	}
	if !t1.After(t0) {
		t1 = t0.Add(time.Second)
	}
	return t0, t1
}

// xStep picks a tick spacing giving about 6 to 12 ticks.
func xStep(total time.Duration) time.Duration {
	for _, s := range []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
		5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour} {
		if total/s <= 12 {
			return s
		}
	}
	return total / 10
}

// yTicks are four round latencies up to top.
func yTicks(top time.Duration) []time.Duration {
	step := top / 4
	for _, r := range []time.Duration{time.Microsecond, 10 * time.Microsecond, 100 * time.Microsecond, time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond, time.Second} {
		if step >= r {
			step = step.Round(r)
		}
	}
	if step <= 0 {
		step = top / 4
	}
	var out []time.Duration
	for t := step; t <= top; t += step {
		out = append(out, t)
	}
	return out
}
