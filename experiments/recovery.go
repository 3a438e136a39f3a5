package experiments

import (
	"context"
	"fmt"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// settle is how far behind "now" recovery evaluation looks, so that samples
// finishing at the same instant have been recorded.
const settle = 5 * time.Millisecond

// recovery measures time to recover: from the first injection (or the last
// revert) to the first instant after which every SLO holds for hold_for.
// It keeps sampling until that instant is known or recover_within (plus
// hold_for to confirm it) has passed. It returns the failures to report.
func (r *run) recovery(ctx context.Context, fw faultWindow) []string {
	rc := r.sc.Recovery
	from, measured := fw.start, "inject"
	if rc.MeasureFrom == "revert" {
		from, measured = fw.end, "revert"
	}
	hold := rc.HoldFor.Duration
	deadline := from.Add(rc.Within.Duration).Add(hold)
	// Attempts still in flight at the deadline must land before we judge.
	var slack time.Duration
	for _, p := range r.sc.Probes {
		slack = max(slack, p.Timeout.Duration)
	}
	stopAt := deadline.Add(slack + settle)
	if now := time.Now(); stopAt.Before(now) {
		stopAt = now
	}
	r.phase(journal.PhaseRecovery, &deadline)
	out := &journal.Recovery{MeasuredFrom: measured, From: from, Objective: rc.Within.Duration}
	r.j.Recovery = out

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		last := time.Now().Add(-settle)
		at, pending := r.recoveredAt(from, last, hold)
		if len(pending) == 0 {
			d := at.Sub(from)
			out.RecoveredAt, out.Duration = &at, &d
			out.Recovered = d <= rc.Within.Duration
			if !out.Recovered {
				return []string{fmt.Sprintf("not recovered within %s: service recovered after %s", rc.Within, d.Round(time.Millisecond))}
			}
			r.log.Info().Float64("time_to_recover_ms", float64(d)/1e6).Msg("recovered")
			return nil
		}
		if last.After(stopAt) {
			return []string{fmt.Sprintf("not recovered within %s: SLO %v still not holding for %s after %s",
				rc.Within, pending, hold, measured)}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// recoveredAt returns the instant all SLOs recovered, or the names of the
// SLOs whose recovery instant is not known yet.
func (r *run) recoveredAt(from, last time.Time, hold time.Duration) (time.Time, []string) {
	var latest time.Time
	var pending []string
	for _, o := range r.objs {
		at, ok := o.recoveredAt(r.rec.window(o.probe, from, last), from, last, hold)
		if !ok {
			pending = append(pending, o.name)
			continue
		}
		if at.After(latest) {
			latest = at
		}
	}
	return latest, pending
}

// Windows the journal reports SLO figures for, besides the steady phase.
const (
	PhaseFault      = "fault"      // faults in effect: first injection to last revert
	PhaseRecovering = "recovering" // last revert to the recovery instant (or the end, when not recovered)
	PhaseRecovered  = "recovered"  // the recovery instant to the end of the run
)

// figures fills per-phase SLO figures in the journal and returns failures
// of SLOs that had to hold during the faults.
func (r *run) figures(steadyStart time.Time, fw faultWindow, end time.Time) []string {
	var failures []string
	results := make([]journal.SLOResult, 0, len(r.objs))
	for _, o := range r.objs {
		res := journal.SLOResult{Name: o.name, Probe: o.probe, Objective: o.String(), Phases: map[string]journal.SLOFigure{}, Held: true,
			LatencyPercentile: o.percentile, LatencyMax: o.latencyMax}
		res.Phases[journal.PhaseSteady] = o.figure(r.rec.window(o.probe, steadyStart, steadyStart.Add(r.sc.Steady.Duration.Duration)))
		if !fw.start.IsZero() {
			if fw.end.After(fw.start) {
				res.Phases[PhaseFault] = o.figure(r.rec.window(o.probe, fw.start, fw.end))
			}
			if rc := r.j.Recovery; rc != nil && rc.RecoveredAt != nil {
				if rc.RecoveredAt.After(fw.end) {
					res.Phases[PhaseRecovering] = o.figure(r.rec.window(o.probe, fw.end, *rc.RecoveredAt))
				}
				res.Phases[PhaseRecovered] = o.figure(r.rec.window(o.probe, *rc.RecoveredAt, end))
			} else {
				res.Phases[PhaseRecovering] = o.figure(r.rec.window(o.probe, fw.end, end))
			}
			if at, breached := o.breachDuring(r.rec.window(o.probe, fw.start.Add(-o.window), fw.end), fw.start, fw.end); breached {
				res.BreachedAt = &at
				if o.mustHold {
					res.Held = false
					failures = append(failures, fmt.Sprintf("SLO %s (%s) broke during the faults at +%s and must hold throughout",
						o.name, o, at.Sub(fw.start).Round(time.Millisecond)))
				}
			}
		}
		results = append(results, res)
	}
	r.mu.Lock()
	r.j.SLOs = results
	r.mu.Unlock()
	return failures
}
