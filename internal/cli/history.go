package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/report"
)

func newHistoryCmd(e *env) *cobra.Command {
	var cf clientFlags
	var dir, scenario string
	var last, limit int
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List past runs, newest first, and the resilience score",
		Long: `history lists past runs newest first and the resilience score over the
latest --last scored runs: 100 × the weighted share of objectives met (each
SLO weight 1, the recovery objective 1, the runbook 2). Aborted runs count as
all missed; not-steady, error and interrupted runs are excluded and counted
apart. See README "Resilience score".

The runs come from the daemon when one answers (--socket, --addr or the
default socket), else from the local journal directory. --journal-dir reads
that directory whatever the daemon.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var js []*journal.Journal
			var trigger map[string]string
			source := dir
			var c *api.Client
			ok, err := false, error(nil)
			if !cmd.Flags().Changed("journal-dir") {
				c, ok, err = reachableDaemon(cmd.Context(), cf)
			}
			switch {
			case !ok && err == nil:
				var bad []error
				js, bad = localJournals(dir)
				for _, err := range bad {
					fmt.Fprintln(e.stderr, "chaosctl: skipped:", err)
				}
			case err != nil:
				return err
			default:
				source = "the daemon at " + c.Where()
				if js, trigger, err = daemonJournals(cmd.Context(), c, limit, scenario); err != nil {
					return apiErr(err)
				}
			}
			if scenario != "" {
				kept := js[:0]
				for _, j := range js {
					if j.Scenario == scenario {
						kept = append(kept, j)
					}
				}
				js = kept
			}
			sort.SliceStable(js, func(a, b int) bool { return js[a].StartedAt.After(js[b].StartedAt) })
			if limit > 0 && len(js) > limit {
				js = js[:limit]
			}
			score := report.ComputeScore(js, last)
			if e.output == "json" {
				return printHistoryJSON(e, js, trigger, score)
			}
			printHistory(e, js, trigger, score, source)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "journal-dir", defaultJournalDir(), "read the journals in this directory (default when no daemon answers)")
	cmd.Flags().StringVar(&scenario, "scenario", "", "only runs of this scenario")
	cmd.Flags().IntVar(&last, "last", report.DefaultScoreRuns, "score the latest N scored runs")
	cmd.Flags().IntVar(&limit, "limit", 50, "runs to list and score from; 0: all")
	addClientFlags(cmd, &cf)
	return cmd
}

// daemonJournals fetches the daemon's latest runs with their journals, and
// each run's trigger.
func daemonJournals(ctx context.Context, c *api.Client, limit int, scenario string) ([]*journal.Journal, map[string]string, error) {
	h, err := c.History(ctx, limit, scenario)
	if err != nil {
		return nil, nil, err
	}
	trigger := map[string]string{}
	js := make([]*journal.Journal, 0, len(h))
	for _, r := range h {
		j, err := c.Run(ctx, r.RunID)
		if err != nil {
			return nil, nil, fmt.Errorf("run %s: %w", r.RunID, err)
		}
		trigger[r.RunID] = r.Trigger
		js = append(js, j)
	}
	return js, trigger, nil
}

// localJournals reads every journal in dir; files that are not journals
// come back as errors, not a failure of the whole listing.
func localJournals(dir string) ([]*journal.Journal, []error) {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var js []*journal.Journal
	var bad []error
	for _, p := range paths {
		j, err := journal.Read(p)
		if err != nil {
			bad = append(bad, err)
			continue
		}
		js = append(js, j)
	}
	return js, bad
}

func printHistory(e *env, js []*journal.Journal, trigger map[string]string, s report.Score, source string) {
	if len(js) == 0 {
		fmt.Fprintf(e.stdout, "no runs in %s\n", source)
		return
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STARTED\tRUN\tSCENARIO\tTRIGGER\tVERDICT\tTOOK\tRECOVERY\tRUNBOOK")
	for _, j := range js {
		rec := "-"
		if rc := j.Recovery; rc != nil {
			rec = "not recovered"
			if rc.Duration != nil {
				rec = rc.Duration.Round(time.Millisecond).String()
			}
		}
		rb := "-"
		if r := j.Runbook; r != nil {
			switch {
			case r.Passed:
				rb = "passed"
			case j.Verdict == journal.Interrupted || j.Verdict == journal.Running:
				rb = "incomplete"
			default:
				rb = "failed"
			}
			if r.TimeToRestore != nil {
				rb += fmt.Sprintf(" (RTO %s/%s)", r.TimeToRestore.Round(time.Millisecond), r.RTO)
			}
		}
		v := string(j.Verdict)
		if j.DryRun {
			v += " (dry run)"
		}
		took := "-"
		if !j.EndedAt.IsZero() {
			took = j.EndedAt.Sub(j.StartedAt).Round(100 * time.Millisecond).String()
		}
		tr := trigger[j.RunID]
		if tr == "" {
			tr = j.Labels["trigger"]
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.StartedAt.Local().Format("2006-01-02 15:04:05"), j.RunID, j.Scenario,
			dash(tr), v, took, rec, rb)
	}
	w.Flush()
	fmt.Fprintln(e.stdout)
	if s.Runs == 0 {
		fmt.Fprintln(e.stdout, "resilience score: no scored runs yet (passed, failed or aborted)")
	} else {
		fmt.Fprintf(e.stdout, "resilience score: %.1f / 100 over the latest %d scored runs (%d passed; %.4g of %.4g weighted objectives met)\n",
			s.Value, s.Runs, s.Passed, s.Met, s.Total)
	}
	if len(s.Excluded) > 0 {
		var parts []string
		for v, n := range s.Excluded {
			parts = append(parts, fmt.Sprintf("%d %s", n, v))
		}
		sort.Strings(parts)
		fmt.Fprintf(e.stdout, "excluded from the score: %s\n", strings.Join(parts, ", "))
	}
}

type historyRun struct {
	RunID     string          `json:"run_id"`
	Scenario  string          `json:"scenario"`
	Trigger   string          `json:"trigger,omitempty"`
	StartedAt time.Time       `json:"started_at"`
	Verdict   journal.Verdict `json:"verdict"`
	DryRun    bool            `json:"dry_run,omitempty"`
	Recovery  *time.Duration  `json:"time_to_recover_ns,omitempty"`
	Runbook   *bool           `json:"runbook_passed,omitempty"`
}

func printHistoryJSON(e *env, js []*journal.Journal, trigger map[string]string, s report.Score) error {
	runs := make([]historyRun, 0, len(js))
	for _, j := range js {
		r := historyRun{RunID: j.RunID, Scenario: j.Scenario, Trigger: trigger[j.RunID], StartedAt: j.StartedAt, Verdict: j.Verdict, DryRun: j.DryRun}
		if j.Recovery != nil {
			r.Recovery = j.Recovery.Duration
		}
		if j.Runbook != nil {
			r.Runbook = &j.Runbook.Passed
		}
		runs = append(runs, r)
	}
	return json.NewEncoder(e.stdout).Encode(struct {
		Runs  []historyRun `json:"runs"`
		Score report.Score `json:"score"`
	}{runs, s})
}
