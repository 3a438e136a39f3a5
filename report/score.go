package report

import (
	"sort"

	"github.com/chaosctl/chaosctl/journal"
)

// Weights of the items a run is scored on.
const (
	WeightSLO      = 1.0 // each SLO
	WeightRecovery = 1.0 // the recovery objective
	WeightRunbook  = 2.0 // the runbook: restored within its RTO, data check passed
)

// DefaultScoreRuns is how many of the latest scored runs the score covers.
const DefaultScoreRuns = 10

// Score is the resilience score over a history of runs.
//
// Formula. Take the latest n runs (by start time) whose verdict is passed,
// failed or aborted; dry runs never count, nor do inconclusive, not-steady,
// error and interrupted runs, which prove nothing about the service. Each such run contributes items:
//
//   - every SLO, weight 1, met when it held wherever it had to;
//   - the recovery objective, weight 1, met when service recovered within
//     recover_within and did not relapse;
//   - the runbook, when the scenario has one, weight 2, met when every step
//     that had to succeed did, every SLO was restored within the RTO and
//     the data check passed.
//
// An aborted run (a stop condition tripped, or the operator stopped it)
// showed no resilience: all its items count as missed (one item of weight 1
// if it has none). The score is 100 × Σ(weight of met items) / Σ(weight of
// all items), from 0 to 100.
//
// Runs that say nothing about the service are excluded and counted in
// Excluded by verdict: not-steady (nothing was injected), error (chaosctl
// failed), interrupted and running (no result). They do not take a place
// among the n runs.
type Score struct {
	Value    float64                 `json:"value"`  // 0..100; meaningless when Runs is 0
	Runs     int                     `json:"runs"`   // runs scored
	Met      float64                 `json:"met"`    // weight of met items
	Total    float64                 `json:"total"`  // weight of all items
	Passed   int                     `json:"passed"` // scored runs whose verdict was passed
	Excluded map[journal.Verdict]int `json:"excluded,omitempty"`
}

// ComputeScore scores the latest n scored runs of js (n <= 0: DefaultScoreRuns).
// It does not modify js.
func ComputeScore(js []*journal.Journal, n int) Score {
	if n <= 0 {
		n = DefaultScoreRuns
	}
	sorted := append([]*journal.Journal(nil), js...)
	sort.SliceStable(sorted, func(a, b int) bool { return sorted[a].StartedAt.After(sorted[b].StartedAt) })
	sc := Score{Excluded: map[journal.Verdict]int{}}
	for _, j := range sorted {
		if j.DryRun {
			continue
		}
		switch j.Verdict {
		case journal.Passed, journal.Failed, journal.Aborted:
		default:
			sc.Excluded[j.Verdict]++
			continue
		}
		if sc.Runs == n {
			continue
		}
		sc.Runs++
		met, total := scoreRun(j)
		sc.Met += met
		sc.Total += total
		if j.Verdict == journal.Passed {
			sc.Passed++
		}
	}
	if sc.Total > 0 {
		sc.Value = 100 * sc.Met / sc.Total
	}
	if len(sc.Excluded) == 0 {
		sc.Excluded = nil
	}
	return sc
}

// scoreRun returns the weight of met items and of all items of one run.
func scoreRun(j *journal.Journal) (met, total float64) {
	item := func(w float64, ok bool) {
		total += w
		if ok && j.Verdict != journal.Aborted {
			met += w
		}
	}
	for _, s := range j.SLOs {
		item(WeightSLO, s.Held)
	}
	if j.Recovery != nil {
		item(WeightRecovery, j.Recovery.Recovered && j.Recovery.RelapsedAt == nil) // a relapse is no recovery
	}
	if j.Runbook != nil {
		item(WeightRunbook, j.Runbook.Passed)
	}
	if total == 0 {
		item(1, j.Verdict == journal.Passed)
	}
	return met, total
}
