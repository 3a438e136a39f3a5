package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins"
)

// recoverTimeout bounds each revert of a leftover fault.
const recoverTimeout = 30 * time.Second

func newRecoverCmd(e *env) *cobra.Command {
	var (
		dir string
		pf  pluginFlags
	)
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Revert the faults that a local run which died (kill -9, power loss) left in place",
		Long: `A local run (one without a daemon) records each fault in a write-ahead ledger
in the journal directory before injecting it. If the run dies before it
reverts, the ledger stays. recover reverts every fault those ledgers show
as still in effect, writes the dead run's journal as interrupted and
removes the ledger. chaosctl run does the same before each local run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat := pf.catalog(e)
			defer cat.Close()
			res, err := recoverLeftovers(cmd.Context(), e, dir, cat)
			if e.output == "json" {
				if jerr := json.NewEncoder(e.stdout).Encode(res); jerr != nil {
					return jerr
				}
			} else {
				for _, r := range res {
					fmt.Fprintf(e.stdout, "run %s (%s): %d reverted, %d unknown, %d failed; journal %s\n",
						r.RunID, r.Scenario, r.Reverted, r.Unknown, r.Failed, r.Journal)
				}
				if len(res) == 0 && err == nil {
					fmt.Fprintln(e.stdout, "nothing to recover in", dir)
				}
			}
			if err != nil {
				return withCode(ExitError, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "journal-dir", defaultJournalDir(), "directory of the journals and ledgers")
	pf.add(cmd.Flags())
	return cmd
}

// recovered is what recover did for one dead run.
type recovered struct {
	RunID    string `json:"run_id"`
	Scenario string `json:"scenario"`
	Reverted int    `json:"reverted"`
	Unknown  int    `json:"unknown"`
	Failed   int    `json:"failed"`
	Journal  string `json:"journal"`
}

// recoverLeftovers reverts what dead local runs left in dir. A fault whose
// revert fails keeps its ledger for the next attempt.
func recoverLeftovers(ctx context.Context, e *env, dir string, cat plugins.Catalog) ([]recovered, error) {
	pending, err := journal.PendingLedgers(dir)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	var out []recovered
	for _, p := range pending {
		r := recovered{RunID: p.RunID, Scenario: p.Scenario, Journal: filepath.Join(dir, p.RunID+".json")}
		var faults []journal.Fault
		for _, f := range p.Faults {
			g, unknown, err := experiments.RevertLeftover(ctx, cat, f, recoverTimeout, "chaosctl after the run that injected it died")
			log := e.log.With().Str("run_id", p.RunID).Str("fault", f.ID).Str("target", f.Target.String()).Logger()
			switch {
			case err != nil:
				r.Failed++
				errs = append(errs, fmt.Errorf("run %s: %w", p.RunID, err))
				log.Error().Err(err).Msg("revert of a fault left by a dead run failed; try again with chaosctl recover")
			case unknown:
				r.Unknown++
				log.Error().Msg(experiments.NoteIntentOnly)
			default:
				r.Reverted++
				log.Warn().Msg("fault left by a dead run reverted")
			}
			faults = append(faults, g)
		}
		if err := writeInterrupted(r, faults); err != nil {
			errs = append(errs, err)
		}
		if err := p.Release(r.Failed == 0); err != nil {
			errs = append(errs, err)
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// writeInterrupted writes (or completes) the dead run's journal.
func writeInterrupted(r recovered, faults []journal.Fault) error {
	j, err := journal.Read(r.Journal)
	if err != nil {
		now := time.Now()
		j = &journal.Journal{Format: journal.FormatVersion, RunID: r.RunID, Scenario: r.Scenario, StartedAt: now, EndedAt: now,
			Phases: []journal.Phase{}, Samples: nil}
	}
	for _, f := range faults {
		replaced := false
		for i := range j.Faults {
			if j.Faults[i].ID == f.ID {
				j.Faults[i], replaced = f, true
			}
		}
		if !replaced {
			j.Faults = append(j.Faults, f)
		}
	}
	msg := fmt.Sprintf("chaosctl reverted %d fault(s) the run left", r.Reverted)
	if j.Verdict == journal.Running || j.Verdict == "" {
		// No final journal: the run died.
		j.Verdict = journal.Interrupted
		msg = "the run died mid-run (kill -9, power loss); " + msg
	}
	if r.Unknown > 0 {
		msg += fmt.Sprintf("; %d fault(s) in unknown state (intent recorded, no revert data): check the targets", r.Unknown)
	}
	if r.Failed > 0 {
		msg += fmt.Sprintf("; %d revert(s) FAILED: run chaosctl recover again", r.Failed)
	}
	j.Reasons = append(j.Reasons, msg)
	if _, err := os.Stat(filepath.Dir(r.Journal)); err != nil {
		return err
	}
	return journal.Write(r.Journal, j)
}
