package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/report"
)

func newReportCmd(e *env) *cobra.Command {
	var format, out, dir string
	cmd := &cobra.Command{
		Use:   "report JOURNAL_FILE|RUN_ID",
		Short: "Render a run's journal as HTML, Markdown, JUnit XML or JSON",
		Long: `report renders one run for people and pipelines:

  html   one self-contained page: a timeline per SLO probe (latency, failed
         samples, fault windows, recovery instant, SLO threshold) and tables
  md     a summary to paste into a post-mortem or a wiki
  junit  JUnit XML: a test case for the verdict, each SLO, the recovery
         objective and each runbook step, for a CI stage to gate on
  json   the journal's results without the raw samples

The argument is a journal file, or a run id looked up in --journal-dir.
Write the report to a file with --out (-o still works, deprecated).
Exit codes: 0 written, 2 unknown format or unreadable journal.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := loadJournal(args[0], dir)
			if err != nil {
				return withCode(ExitInvalid, err)
			}
			var b bytes.Buffer
			if err := report.Render(&b, j, format); err != nil {
				return withCode(ExitInvalid, err)
			}
			if out == "" || out == "-" {
				_, err = e.stdout.Write(b.Bytes())
				return err
			}
			if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
				return withCode(ExitError, fmt.Errorf("write report: %w", err))
			}
			fmt.Fprintf(e.stderr, "wrote %s report of run %s (%s) to %s\n", format, j.RunID, j.Verdict, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "html", "report format: "+strings.Join(report.Formats(), ", "))
	// --out, not --output: that is the global output format (text, json).
	// -o/--output still write the file here, with a deprecation note.
	cmd.Flags().StringVar(&out, "out", "", "write the report to this file (default: standard output)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "deprecated: use --out")
	_ = cmd.Flags().MarkDeprecated("output", "use --out (--output is the global output format elsewhere)")
	cmd.Flags().StringVar(&dir, "journal-dir", defaultJournalDir(), "directory where run ids are looked up")
	return cmd
}

// ErrNoSuchRun is returned when a run id names no journal.
var ErrNoSuchRun = errors.New("no such run")

// loadJournal reads the journal arg names: a file, or a run id in dir.
// The daemon's store will answer run ids too; this is the local lookup.
func loadJournal(arg, dir string) (*journal.Journal, error) {
	path, err := findJournal(arg, dir)
	if err != nil {
		return nil, err
	}
	return journal.Read(path)
}

// findJournal resolves arg to a journal file: an existing path as is,
// otherwise DIR/RUN_ID.json.
func findJournal(arg, dir string) (string, error) {
	if _, err := os.Stat(arg); err == nil || strings.ContainsRune(arg, os.PathSeparator) || strings.HasSuffix(arg, ".json") {
		return arg, nil
	}
	path := filepath.Join(dir, arg+".json")
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w %q: no file of that name, and no %s", ErrNoSuchRun, arg, path)
		}
		return "", err
	}
	return path, nil
}
