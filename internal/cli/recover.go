package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/lifecycle"
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
beside its journal before injecting it, and names that ledger in an index in
the state directory (CHAOSCTL_STATE_DIR, default ~/.local/state/chaosctl).
If the run dies before it reverts, the ledger stays. recover reverts every
fault those ledgers show as still in effect (found through the index wherever
--journal put them, and in --journal-dir), writes the dead run's journal as
interrupted at the path the run was given, naming the sample log that holds
what it measured, and removes the ledger. A run that died with no fault in
effect gets its interrupted journal too. chaosctl run does the same before
each local run.`,
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
					fmt.Fprintf(e.stdout, "run %s (%s): %d reverted, %d unknown, %d failed; journal %s",
						r.RunID, r.Scenario, r.Reverted, r.Unknown, r.Failed, r.Journal)
					if r.SampleLog != "" {
						fmt.Fprintf(e.stdout, ", samples %s", r.SampleLog)
					}
					fmt.Fprintln(e.stdout)
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

// recoverLeftovers reverts what dead local runs left: the ledgers named in
// the state dir's index of live ledgers, wherever their journals went, and
// those in dir. A fault whose revert fails keeps its ledger for the next
// attempt.
func recoverLeftovers(ctx context.Context, e *env, dir string, cat plugins.Catalog) ([]lifecycle.Outcome, error) {
	b := &lifecycle.LocalLedgers{Index: ledgerIndexDir(), Dirs: []string{dir}}
	out, err := lifecycle.Recover(ctx, b, lifecycle.Recovery{
		Catalog: cat, Timeout: recoverTimeout, Log: e.log, By: "chaosctl after the run that injected it died",
	})
	quiet, qerr := b.InterruptQuiet(ctx)
	out = append(out, quiet...)
	err = errors.Join(err, qerr, b.Close())
	for i, o := range out {
		if p := journal.SampleLogBeside(o.Journal); o.Journal != "" {
			if _, serr := os.Stat(p); serr == nil {
				out[i].SampleLog = p
			}
		}
	}
	for _, o := range out {
		if o.Failed > 0 {
			err = errors.Join(err, fmt.Errorf("run %s: %d revert(s) failed; the ledger is kept for the next attempt", o.RunID, o.Failed))
		}
	}
	return out, err
}
