package experiments

import (
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/scenarios"
)

// The SLO arithmetic the engine judges by, for runbook executors that must
// judge the same way. samples are as a RunbookFunc receives them: every
// probe's, ordered by the instant each outcome became known.

// EvaluateSLO is slo's figure over its probe's samples known in [from, to].
func EvaluateSLO(slo scenarios.SLO, samples Samples, from, to time.Time) journal.SLOFigure {
	o := newObjective(slo)
	return o.figure(samples(o.probe, from, to))
}

// RecoveredAt is the first instant at or after from from which every SLO
// of sc holds for sc.Recovery.HoldFor through lastEvent (the last fault
// event: nothing before it confirms recovery), as far as the samples known
// up to last show. pending names the SLOs whose recovery is not confirmed
// yet; the instant is valid only when pending is empty.
func RecoveredAt(sc *scenarios.Scenario, samples Samples, from, lastEvent, last time.Time) (at time.Time, pending []string) {
	for _, j := range judges(sc, from, lastEvent) {
		jd := j.at(samples(j.o.probe, from, last), last)
		if !jd.Confirmed {
			pending = append(pending, j.o.name)
			continue
		}
		at = later(at, jd.At)
	}
	return at, pending
}
