package report

import (
	_ "embed"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"upper":    func(v journal.Verdict) string { return strings.ToUpper(string(v)) },
	"ms":       ms,
	"time":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
	"figure":   figureText,
	"stepText": func(s stepRow) string { return stepText(s.Step) },
	"fault":    faultText,
	"inc":      func(i int) int { return i + 1 },
}).Parse(htmlSource))

type htmlChart struct {
	SLO journal.SLOResult
	SVG template.HTML
}

type htmlData struct {
	J        *journal.Journal
	Headline string
	Finished bool
	Duration string
	Recovery string
	RTO      string
	Charts   []htmlChart
	Phases   []journal.PhaseName
	Steps    []stepRow
	Load     []loadView
}

// renderHTML writes one self-contained page: inline CSS and SVG, no
// scripts, no external assets, so it can be mailed or attached as is.
func renderHTML(w io.Writer, j *journal.Journal) error {
	d := htmlData{J: j, Headline: headline(j), Finished: finished(j), Recovery: recoveryText(j.Recovery), Phases: sloPhases, Load: loadViews(j)}
	if !j.EndedAt.IsZero() {
		d.Duration = ms(j.EndedAt.Sub(j.StartedAt))
	}
	if j.Runbook != nil {
		d.RTO = rtoText(j.Runbook)
		d.Steps = stepRows(j.Runbook)
	}
	charted := map[string]bool{}
	for _, s := range j.SLOs {
		d.Charts = append(d.Charts, htmlChart{SLO: s, SVG: template.HTML(timeline(j, s))})
		charted[s.Probe] = true
	}
	// An interrupted run may have no SLO results yet: chart its probes.
	for _, smp := range j.Samples {
		if !charted[smp.Probe] {
			charted[smp.Probe] = true
			s := journal.SLOResult{Name: "(probe " + smp.Probe + ")", Probe: smp.Probe}
			d.Charts = append(d.Charts, htmlChart{SLO: s, SVG: template.HTML(timeline(j, s))})
		}
	}
	return htmlTemplate.Execute(w, d)
}
