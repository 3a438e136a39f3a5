package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/lifecycle"
	"github.com/chaosctl/chaosctl/notify"
	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/runbooks"
	"github.com/chaosctl/chaosctl/scenarios"
)

type runFlags struct {
	dryRun     bool
	journal    string
	journalDir string
	local      bool
	client     clientFlags
	plugins    pluginFlags
	notify     notifyFlags
}

// notifyFlags are the daemon's [notify] keys for a local run. The events
// flags apply to every URL of their kind.
type notifyFlags struct {
	webhooks, slack            []string
	webhookEvents, slackEvents []string
	grafana, grafanaTokenFile  string
	grafanaDashboardUID        string
}

// notifyFlagOf names the flag that sets a [notify] key
// ("notify.webhook[1].events" -> --notify-webhook-events).
var notifyFlagOf = map[string]string{
	"webhook.url":           "--notify-webhook",
	"webhook.events":        "--notify-webhook-events",
	"slack.url":             "--notify-slack",
	"slack.events":          "--notify-slack-events",
	"grafana.url":           "--notify-grafana",
	"grafana.token_file":    "--notify-grafana-token-file",
	"grafana.dashboard_uid": "--notify-grafana-dashboard-uid",
}

// config is the notify.Config the flags name, checked; errors name the flag.
func (n notifyFlags) config() (notify.Config, error) {
	var c notify.Config
	for _, u := range n.webhooks {
		c.Webhooks = append(c.Webhooks, notify.Webhook{URL: u, Events: n.webhookEvents})
	}
	for _, u := range n.slack {
		c.Slack = append(c.Slack, notify.Slack{URL: u, Events: n.slackEvents})
	}
	c.Grafana = notify.Grafana{URL: n.grafana, TokenFile: n.grafanaTokenFile, DashboardUID: n.grafanaDashboardUID}
	var errs []error
	if len(n.webhookEvents) > 0 && len(n.webhooks) == 0 {
		errs = append(errs, errors.New("--notify-webhook-events: applies to --notify-webhook, and there is none"))
	}
	if len(n.slackEvents) > 0 && len(n.slack) == 0 {
		errs = append(errs, errors.New("--notify-slack-events: applies to --notify-slack, and there is none"))
	}
	for _, e := range c.Check("notify") {
		key := strings.TrimPrefix(e.Key, "notify.")
		// Drop the indexes: webhook[1].events[0] -> webhook.events.
		var b strings.Builder
		for part := range strings.SplitSeq(key, "[") {
			if _, rest, ok := strings.Cut(part, "]"); ok {
				part = rest
			}
			b.WriteString(part)
		}
		flag, ok := notifyFlagOf[b.String()]
		if !ok {
			flag = "--notify " + key
		}
		errs = append(errs, fmt.Errorf("%s: %s", flag, e.Msg))
	}
	return c, errors.Join(errs...)
}

func newRunCmd(e *env) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run one scenario and print its verdict",
		Long: `run executes a scenario: preflight, steady state, inject, observe, revert,
verify recovery, verdict. Faults are always reverted, also on Ctrl-C.

Exit codes: 0 passed, 1 failed (SLO missed or not recovered in time),
2 invalid scenario or usage, 3 not steady (nothing injected), 4 aborted
(stop condition or operator), 5 error (the runner itself failed, or a
fault could not be reverted), 6 interrupted, 7 inconclusive (the run
proves nothing: a fault did not take effect or vanished, every fault was
skipped, or an SLO had no samples where it is judged).

When a daemon answers on the default socket (or --socket/--addr name one),
the scenario file's content is sent to it and the run happens there: same
progress, same summary, same exit code, and the journal is also written
here. --local runs in this process regardless.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := f.notify.config(); err != nil {
				return withCode(ExitInvalid, err)
			}
			if !f.local {
				if c, ok, err := reachableDaemon(cmd.Context(), f.client); err != nil {
					return err
				} else if ok {
					if nc, _ := f.notify.config(); nc.Enabled() {
						e.log.Warn().Msg("--notify-* apply to local runs: the daemon sends to its own [notify] (or use --local)")
					}
					return runRemote(cmd.Context(), e, c, args[0], f)
				}
			}
			return runScenario(cmd.Context(), e, args[0], f)
		},
	}
	cmd.Flags().BoolVar(&f.local, "local", false, "run in this process even when a daemon is running")
	addClientFlags(cmd, &f.client)
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "resolve and print the exact targets, inject nothing")
	cmd.Flags().StringVar(&f.journal, "journal", "", "write the run's journal to this file (default: JOURNAL_DIR/RUN_ID.json)")
	cmd.Flags().StringVar(&f.journalDir, "journal-dir", defaultJournalDir(), "directory for journals")
	f.plugins.add(cmd.Flags())
	cmd.Flags().StringArrayVar(&f.notify.webhooks, "notify-webhook", nil, "POST each event's JSON (README: Notifications) to this URL; repeatable; a local run only (a daemon uses its [notify])")
	cmd.Flags().StringVar(&f.notify.grafana, "notify-grafana", "", "Grafana base URL: annotate each fault and the verdict (needs --notify-grafana-token-file)")
	cmd.Flags().StringVar(&f.notify.grafanaTokenFile, "notify-grafana-token-file", "", "file holding the Grafana API token")
	cmd.Flags().StringArrayVar(&f.notify.slack, "notify-slack", nil, "Slack incoming-webhook URL for the verdict; repeatable")
	cmd.Flags().StringSliceVar(&f.notify.webhookEvents, "notify-webhook-events", nil, "the events every --notify-webhook gets, of start, fault, verdict (default: all)")
	cmd.Flags().StringSliceVar(&f.notify.slackEvents, "notify-slack-events", nil, "the events every --notify-slack gets, of start, fault, verdict (default: verdict)")
	cmd.Flags().StringVar(&f.notify.grafanaDashboardUID, "notify-grafana-dashboard-uid", "", "annotate this Grafana dashboard only, not the organisation")
	return cmd
}

// defaultJournalDir is $CHAOSCTL_JOURNAL_DIR, else $XDG_STATE_HOME/chaosctl/journals,
// else ~/.local/state/chaosctl/journals.
// stateDir is where chaosctl keeps its own state: journals, the index of
// live ledgers.
func stateDir() string {
	if d := os.Getenv("CHAOSCTL_STATE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "chaosctl")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "chaosctl")
	}
	return filepath.Join(os.TempDir(), "chaosctl-state")
}

// ledgerIndexDir holds one entry per live local ledger, wherever its
// journal went: recover and the next run look there.
func ledgerIndexDir() string { return filepath.Join(stateDir(), "ledgers") }

func defaultJournalDir() string {
	if d := os.Getenv("CHAOSCTL_JOURNAL_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "chaosctl", "journals")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "chaosctl", "journals")
	}
	return filepath.Join(os.TempDir(), "chaosctl-journals")
}

func runScenario(ctx context.Context, e *env, file string, f runFlags) error {
	plugins.ProtectPaths(f.journalDir, f.journal, stateDir()) // before any plugin starts: they refuse to fill these
	cat := f.plugins.catalog(e)
	defer cat.Close()
	sc, err := scenarios.Load(ctx, file, cat)
	if err != nil {
		var list scenarios.ErrorList
		if errors.As(err, &list) {
			for _, le := range list {
				fmt.Fprintln(e.stderr, le.Error())
			}
			return withCode(ExitInvalid, fmt.Errorf("%s is invalid: %d errors", file, len(list)))
		}
		return withCode(ExitInvalid, err)
	}
	runID := experiments.NewRunID()
	path := f.journal
	if path == "" {
		path = filepath.Join(f.journalDir, runID+".json")
	}
	obs, stop := newProgress(e, sc)
	if !f.dryRun {
		nc, _ := f.notify.config() // checked in RunE
		nr := notify.Start(nc, runID, sc.Name, notify.Options{Log: e.log})
		defer nr.Close() // a bounded drain, after the summary is printed
		progress := obs
		obs = func(ev experiments.Event) { progress(ev); nr.Observe(ev) }
	}
	log := e.log
	if e.tty && !e.logLevelSet {
		// The live line says what info lines would; keep warnings.
		log = log.Level(zerolog.WarnLevel)
	}
	// First undo what a local run that died left behind, then record this
	// run's faults in a write-ahead ledger of its own.
	// The ledger lives beside the journal.
	ledgerDir := filepath.Dir(path)
	if res, err := recoverLeftovers(ctx, e, ledgerDir, cat); err != nil {
		return withCode(ExitError, fmt.Errorf("faults left by an earlier run that died could not all be reverted (chaosctl recover retries): %w", err))
	} else if len(res) > 0 {
		e.log.Warn().Int("runs", len(res)).Msg("reverted faults left by earlier runs that died; their journals say interrupted")
	}
	var ledger lifecycle.Ledger
	if !f.dryRun {
		led, err := journal.CreateLedger(ledgerDir, runID, sc.Name, journal.LedgerOptions{Journal: path, Index: ledgerIndexDir()})
		if err != nil {
			return withCode(ExitError, err)
		}
		defer func() {
			if err := led.Close(); err != nil {
				e.log.Error().Err(err).Msg("close the fault ledger")
			}
		}()
		ledger = led
	}
	rb := &runbooks.Runner{Log: log.With().Str("run_id", runID).Str("scenario", sc.Name).Logger()}
	// Every sample streams to a log beside the journal, so that a long run
	// (a load probe at 1000 req/s) keeps a thinned journal and the log has
	// them all. A run whose journal keeps every sample removes its log.
	logPath := journal.SampleLogBeside(path)
	var sink experiments.SampleSink
	if !f.dryRun {
		sl, err := journal.CreateSampleLog(logPath)
		if err != nil {
			return withCode(ExitError, err)
		}
		sink = sl
	}
	j := experiments.Run(ctx, sc, experiments.Options{
		Log:           log,
		Catalog:       cat,
		Ledger:        ledger,
		Observer:      obs,
		DryRun:        f.dryRun,
		RunID:         runID,
		Runbook:       rb.Restore,
		RunbookBefore: rb.Before,
		SampleLog:     sink,
	})
	stop()
	if sink != nil && j.SampleLog == "" {
		_ = os.Remove(logPath) // the journal has every sample
	}
	if err := journal.Write(path, j); err != nil {
		printResult(e, j, "")
		return withCode(ExitError, err)
	}
	printResult(e, j, path)
	return withCode(j.Verdict.ExitCode(), nil)
}

// result is what `run --output json` prints: the verdict and where the
// full journal is.
type result struct {
	RunID    string              `json:"run_id"`
	Scenario string              `json:"scenario"`
	Verdict  journal.Verdict     `json:"verdict"`
	ExitCode int                 `json:"exit_code"`
	Reasons  []string            `json:"reasons"`
	Recovery *journal.Recovery   `json:"recovery,omitempty"`
	SLOs     []journal.SLOResult `json:"slos"`
	Faults   []journal.Fault     `json:"faults"`
	Runbook  *journal.Runbook    `json:"runbook,omitempty"`
	Journal  string              `json:"journal"`
}

func printResult(e *env, j *journal.Journal, path string) {
	if e.output == "json" {
		_ = json.NewEncoder(e.stdout).Encode(result{
			RunID: j.RunID, Scenario: j.Scenario, Verdict: j.Verdict, ExitCode: j.Verdict.ExitCode(),
			Reasons: j.Reasons, Recovery: j.Recovery, SLOs: j.SLOs, Faults: j.Faults, Runbook: j.Runbook, Journal: path,
		})
		return
	}
	fmt.Fprint(e.stdout, summary(j, path))
}
