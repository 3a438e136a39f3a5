package ui

import (
	"fmt"
	"html/template"
	"sort"
	"strings"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/report"
)

// trendSVG draws the resilience score after each scored run, oldest
// first: the score over the latest report.DefaultScoreRuns scored runs up
// to that one. Only numbers and run ids go into it, escaped.
func trendSVG(js []*journal.Journal) template.HTML {
	sorted := append([]*journal.Journal(nil), js...)
	sort.SliceStable(sorted, func(a, b int) bool { return sorted[a].StartedAt.Before(sorted[b].StartedAt) })
	type pt struct {
		v  float64
		id string
	}
	var pts []pt
	for i, j := range sorted {
		sc := report.ComputeScore(sorted[:i+1], report.DefaultScoreRuns)
		if sc.Runs == 0 || j.DryRun {
			continue
		}
		switch j.Verdict {
		case journal.Passed, journal.Failed, journal.Aborted:
			pts = append(pts, pt{sc.Value, j.RunID})
		}
	}
	const w, h, pl, pr, pt0, pb = 600.0, 160.0, 40.0, 12.0, 10.0, 24.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="trend" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" role="img" aria-label="resilience score over runs">`, w, h)
	fmt.Fprintf(&b, `<rect class="plot" x="%.0f" y="%.0f" width="%.0f" height="%.0f"/>`, pl, pt0, w-pl-pr, h-pt0-pb)
	y := func(v float64) float64 { return pt0 + (h-pt0-pb)*(1-v/100) }
	for _, v := range []float64{0, 50, 100} {
		fmt.Fprintf(&b, `<line class="grid" x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f"/><text class="axis" x="%.0f" y="%.1f" text-anchor="end">%.0f</text>`,
			pl, y(v), w-pr, y(v), pl-6, y(v)+4, v)
	}
	if len(pts) == 0 {
		fmt.Fprintf(&b, `<text class="axis" x="%.0f" y="%.0f" text-anchor="middle">no scored runs yet</text></svg>`, w/2, h/2)
		return template.HTML(b.String())
	}
	x := func(i int) float64 {
		if len(pts) == 1 {
			return pl + (w-pl-pr)/2
		}
		return pl + (w-pl-pr)*float64(i)/float64(len(pts)-1)
	}
	var line []string
	for i, p := range pts {
		line = append(line, fmt.Sprintf("%.1f,%.1f", x(i), y(p.v)))
	}
	fmt.Fprintf(&b, `<polyline class="score" points="%s"/>`, strings.Join(line, " "))
	for i, p := range pts {
		fmt.Fprintf(&b, `<circle class="score-pt" cx="%.1f" cy="%.1f" r="3"><title>%s: %.1f</title></circle>`, x(i), y(p.v), template.HTMLEscapeString(p.id), p.v)
	}
	fmt.Fprintf(&b, `<text class="axis" x="%.0f" y="%.0f">oldest</text><text class="axis" x="%.0f" y="%.0f" text-anchor="end">latest</text></svg>`, pl, h-6, w-pr, h-6)
	return template.HTML(b.String())
}
