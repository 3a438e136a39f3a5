package report

import (
	"encoding/json"
	"io"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// jsonReport is the journal without its raw samples, plus the headline:
// what a dashboard or a bot needs.
type jsonReport struct {
	RunID      string              `json:"run_id"`
	Scenario   string              `json:"scenario"`
	Postmortem journal.Postmortem  `json:"postmortem"`
	StartedAt  time.Time           `json:"started_at"`
	EndedAt    time.Time           `json:"ended_at"`
	Verdict    journal.Verdict     `json:"verdict"`
	Finished   bool                `json:"finished"` // false for interrupted and running runs
	Headline   string              `json:"headline"`
	Reasons    []string            `json:"reasons"`
	Recovery   *journal.Recovery   `json:"recovery,omitempty"`
	SLOs       []journal.SLOResult `json:"slos"`
	Faults     []journal.Fault     `json:"faults"`
	Runbook    *journal.Runbook    `json:"runbook,omitempty"`
	Samples    int                 `json:"samples"`
	// Load is each load probe's requests per interval, as the journal has it.
	Load []journal.LoadSeries `json:"load,omitempty"`
}

func renderJSON(w io.Writer, j *journal.Journal) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonReport{
		RunID: j.RunID, Scenario: j.Scenario, Postmortem: j.Postmortem, StartedAt: j.StartedAt, EndedAt: j.EndedAt,
		Verdict: j.Verdict, Finished: finished(j), Headline: headline(j), Reasons: j.Reasons,
		Recovery: j.Recovery, SLOs: j.SLOs, Faults: j.Faults, Runbook: j.Runbook, Samples: len(j.Samples),
		Load: j.Load,
	})
}
