package experiments

import (
	"context"
	"fmt"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/scenarios"
)

// Settle is how far behind "now" recovery is judged, so that samples
// finishing at the same instant have been recorded.
const Settle = 5 * time.Millisecond

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
	deadline := from.Add(rc.Within.Duration).Add(rc.HoldFor.Duration)
	r.phase(journal.PhaseRecovery, &deadline)
	out := &journal.Recovery{MeasuredFrom: measured, From: from, Objective: rc.Within.Duration}
	r.j.Recovery = out

	at, pending := AwaitRecovery(ctx, r.sc, r.rec.window, from, rc.Within.Duration)
	switch {
	case ctx.Err() != nil:
		return nil
	case len(pending) > 0:
		return []string{fmt.Sprintf("not recovered within %s: SLO %v still not holding for %s after %s",
			rc.Within, pending, rc.HoldFor, measured)}
	}
	d := at.Sub(from)
	out.RecoveredAt, out.Duration = &at, &d
	out.Recovered = d <= rc.Within.Duration
	if !out.Recovered {
		return []string{fmt.Sprintf("not recovered within %s: service recovered after %s", rc.Within, d.Round(time.Millisecond))}
	}
	r.log.Info().Float64("time_to_recover_ms", float64(d)/1e6).Msg("recovered")
	return nil
}

// AwaitRecovery polls samples until every SLO of sc has held for
// hold_for since from (see RecoveredAt), or until within has passed, with
// hold_for to confirm it and the slowest probe's timeout for attempts in
// flight to land, or until ctx ends. pending names the SLOs not recovered.
func AwaitRecovery(ctx context.Context, sc *scenarios.Scenario, samples Samples, from time.Time, within time.Duration) (at time.Time, pending []string) {
	var slack time.Duration
	for _, p := range sc.Probes {
		slack = max(slack, p.Timeout.Duration)
	}
	stopAt := from.Add(within + sc.Recovery.HoldFor.Duration + slack + Settle)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		last := time.Now().Add(-Settle)
		at, pending = RecoveredAt(sc, samples, from, last)
		if len(pending) == 0 || last.After(stopAt) {
			return at, pending
		}
		select {
		case <-ctx.Done():
			return at, pending
		case <-tick.C:
		}
	}
}

// Windows the journal reports SLO figures for, besides the steady phase.
const (
	PhaseFault      = "fault"      // faults in effect: first injection to last revert
	PhaseRecovering = "recovering" // last revert to the recovery instant (or the end, when not recovered)
	PhaseRecovered  = "recovered"  // the recovery instant to the end of the run
)

// minInterval is the shortest probe interval of the scenario.
func (r *run) minInterval() time.Duration {
	var m time.Duration
	for _, p := range r.sc.Probes {
		if m == 0 || p.Interval.Duration < m {
			m = p.Interval.Duration
		}
	}
	return m
}

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
			// A window shorter than a probe interval (an instantaneous
			// kill) holds a sample or two by chance: no figure.
			if fw.end.Sub(fw.start) >= r.minInterval() {
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
