package report

import (
	"fmt"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// loadView is one load probe's per-interval aggregate (journal.LoadSeries)
// as the Markdown and HTML reports show it: totals, the interval that fared
// worst and the slowest one, and a row per interval.
type loadView struct {
	Probe    string
	Requests int
	OK       int
	Failed   string // "402 (6.69%)"
	Interval string // "1s"
	Worst    string // the interval with the lowest ok share
	Slowest  string // the interval with the highest p99
	Rows     []loadRow
}

// loadRow is one interval, its start as an offset from the run's start.
type loadRow struct {
	At                 string
	Requests, OK, Fail int
	P50, P90, P99, Max string
}

func loadViews(j *journal.Journal) []loadView {
	out := make([]loadView, 0, len(j.Load))
	for _, s := range j.Load {
		v := loadView{Probe: s.Probe, Requests: s.Requests, OK: s.OK, Failed: share(s.Failed, s.Requests), Interval: s.Interval.String(),
			Worst: "none failed", Slowest: "-"}
		var worst, slowest *journal.LoadInterval
		for i := range s.Intervals {
			iv := &s.Intervals[i]
			at := "+" + ms(iv.Start.Sub(j.StartedAt))
			row := loadRow{At: at, Requests: iv.Requests, OK: iv.OK, Fail: iv.Failed, P50: "-", P90: "-", P99: "-", Max: "-"}
			if iv.OK > 0 {
				row.P50, row.P90, row.P99, row.Max = latency(iv.P50), latency(iv.P90), latency(iv.P99), latency(iv.Max)
				if slowest == nil || iv.P99 > slowest.P99 {
					slowest = iv
					v.Slowest = fmt.Sprintf("%s: p99 %s", at, latency(iv.P99))
				}
			}
			// The lowest ok share; of equal shares the one that failed most.
			if iv.Failed > 0 && (worst == nil || iv.OK*worst.Requests < worst.OK*iv.Requests ||
				iv.OK*worst.Requests == worst.OK*iv.Requests && iv.Failed > worst.Failed) {
				worst = iv
				v.Worst = fmt.Sprintf("%s: %d of %d failed", at, iv.Failed, iv.Requests)
			}
			v.Rows = append(v.Rows, row)
		}
		out = append(out, v)
	}
	return out
}

// share is n of total with its percentage.
func share(n, total int) string {
	if total == 0 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d (%.2f%%)", n, 100*float64(n)/float64(total))
}

// latency is a request latency to about three figures.
func latency(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}
