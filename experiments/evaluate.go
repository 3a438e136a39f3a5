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

// RecoveredAt is the first instant at or after from after which every SLO
// of sc holds for sc.Recovery.HoldFor, as far as the samples known up to
// last show. pending names the SLOs whose recovery instant is not known yet;
// the instant is valid only when pending is empty.
func RecoveredAt(sc *scenarios.Scenario, samples Samples, from, last time.Time) (at time.Time, pending []string) {
	for _, s := range sc.SLOs {
		o := newObjective(s)
		t, ok := o.recoveredAt(samples(o.probe, from, last), from, last, sc.Recovery.HoldFor.Duration)
		if !ok {
			pending = append(pending, o.name)
			continue
		}
		if t.After(at) {
			at = t
		}
	}
	return at, pending
}
