package slo

import (
	"context"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/scenarios"
)

// Samples returns a copy of one probe's samples whose outcome became known
// in [from, to], ordered by that instant (Sample.End): the order SLO
// windows and recovery are judged in.
type Samples func(probe string, from, to time.Time) []probes.Sample

// Settle is how far behind "now" recovery is judged, so that samples
// finishing at the same instant have been recorded.
const Settle = 5 * time.Millisecond

// Evaluate is slo's figure over its probe's samples known in [from, to].
func Evaluate(slo scenarios.SLO, samples Samples, from, to time.Time) journal.SLOFigure {
	o := New(slo)
	return o.Figure(samples(o.Probe, from, to))
}

// Judges returns a judge per SLO of sc, for a recovery clock started at
// from and faults whose last event was at lastEvent.
func Judges(sc *scenarios.Scenario, from, lastEvent time.Time) []Judge {
	js := make([]Judge, len(sc.SLOs))
	for i, s := range sc.SLOs {
		js[i] = Judge{O: New(s), From: from, LastEvent: lastEvent, Hold: sc.Recovery.HoldFor.Duration, Watch: sc.Recovery.ObserveAfter.Duration}.WithCache()
	}
	return js
}

// RecoveredAt is the first instant at or after from from which every SLO
// of sc holds for sc.Recovery.HoldFor through lastEvent (the last fault
// event: nothing before it confirms recovery), as far as the samples known
// up to last show. pending names the SLOs whose recovery is not confirmed
// yet; the instant is valid only when pending is empty.
func RecoveredAt(sc *scenarios.Scenario, samples Samples, from, lastEvent, last time.Time) (at time.Time, pending []string) {
	for _, j := range Judges(sc, from, lastEvent) {
		jd := j.At(samples(j.O.Probe, from, last), last)
		if !jd.Confirmed {
			pending = append(pending, j.O.Name)
			continue
		}
		at = Later(at, jd.At)
	}
	return at, pending
}

// AwaitRecovery polls samples until every SLO of sc is confirmed recovered
// since from (see RecoveredAt), or until within has passed, with hold_for
// to confirm it and the slowest probe's timeout for attempts in flight to
// land, or until ctx ends. pending names the SLOs not recovered.
func AwaitRecovery(ctx context.Context, sc *scenarios.Scenario, samples Samples, from, lastEvent time.Time, within time.Duration) (at time.Time, pending []string) {
	var slack time.Duration
	for _, p := range sc.Probes {
		slack = max(slack, p.Timeout.Duration)
	}
	stopAt := Later(from.Add(within), lastEvent).Add(sc.Recovery.HoldFor.Duration + slack + Settle)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		last := time.Now().Add(-Settle)
		at, pending = RecoveredAt(sc, samples, from, lastEvent, last)
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

// Later is the later of a and b.
func Later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
