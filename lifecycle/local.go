package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// LocalLedgers is the backlog of local runs (no daemon): the ledger files
// of runs that died, found through the index of live ledgers in the state
// dir and in the given journal directories. Pending locks each ledger it
// returns; Close releases whatever Interrupted did not.
type LocalLedgers struct {
	Index string   // the state dir's index of live ledgers (journal.LedgerOptions.Index)
	Dirs  []string // directories to look in too (the journal dir)

	open map[string]*journal.PendingLedger // run id -> locked ledger
}

var _ Backlog = (*LocalLedgers)(nil)

// Pending locks and reads every dead run's ledger.
func (l *LocalLedgers) Pending(context.Context) ([]Pending, error) {
	found, err := journal.FindPending(l.Index, l.Dirs...)
	if l.open == nil {
		l.open = map[string]*journal.PendingLedger{}
	}
	var out []Pending
	for _, p := range found {
		if _, dup := l.open[p.RunID]; dup {
			_ = p.Release(false)
			continue
		}
		l.open[p.RunID] = p
		for _, f := range p.Faults {
			out = append(out, Pending{RunID: p.RunID, Scenario: p.Scenario, Journal: p.Journal, Fault: f, Failed: f.RevertError != ""})
		}
	}
	return out, err
}

func (l *LocalLedgers) ledger(runID string) (*journal.PendingLedger, error) {
	p := l.open[runID]
	if p == nil {
		return nil, fmt.Errorf("no ledger of run %s is open", runID)
	}
	return p, nil
}

// Resolve appends the fault's outcome: reverted, or unknown.
func (l *LocalLedgers) Resolve(_ context.Context, p Pending, f journal.Fault) error {
	led, err := l.ledger(p.RunID)
	if err != nil {
		return err
	}
	state := journal.StateReverted
	if f.RevertedAt == nil {
		state = journal.StateUnknown
	}
	return led.Record(state, f)
}

// Keep appends a failed revert: the ledger stays for the next attempt.
func (l *LocalLedgers) Keep(_ context.Context, p Pending, f journal.Fault) error {
	led, err := l.ledger(p.RunID)
	if err != nil {
		return err
	}
	return led.Record(journal.StateRevertFailed, f)
}

// Interrupted writes (or completes) the dead run's journal where the run
// was asked to write it, then releases its ledger, removing it when
// nothing is left to revert.
func (l *LocalLedgers) Interrupted(_ context.Context, o Outcome) error {
	led, err := l.ledger(o.RunID)
	if err != nil {
		return err
	}
	werr := writeInterrupted(o, "chaosctl")
	delete(l.open, o.RunID)
	return errors.Join(werr, led.Release(o.Failed == 0))
}

// InterruptQuiet writes, as interrupted, the journal of every dead run
// whose ledger Pending found with nothing left to revert (the run died
// before its first fault or after its last revert) and which has no
// final journal, then releases those ledgers. Recover reports only runs
// with faults left; these are the rest.
func (l *LocalLedgers) InterruptQuiet(context.Context) ([]Outcome, error) {
	var out []Outcome
	var errs []error
	for id, p := range l.open {
		if len(p.Faults) > 0 {
			continue // Recover's, kept for a failed revert
		}
		o := Outcome{RunID: p.RunID, Scenario: p.Scenario, Journal: p.Journal}
		j, err := journal.Read(p.Journal)
		if err != nil {
			j = nil
		}
		if p.Journal != "" && (j == nil || j.Verdict == journal.Running) {
			if err := completeInterrupted(o, "chaosctl", j); err != nil {
				errs = append(errs, fmt.Errorf("journal of run %s: %w", id, err))
				continue // its ledger stays, for the next attempt
			}
			out = append(out, o)
		}
		errs = append(errs, p.Release(true))
		delete(l.open, id)
	}
	slices.SortFunc(out, func(a, b Outcome) int { return strings.Compare(a.RunID, b.RunID) })
	return out, errors.Join(errs...)
}

// Close releases the ledgers Recover did not finish with (a dead run whose
// every fault was already reverted is removed).
func (l *LocalLedgers) Close() error {
	var errs []error
	for id, p := range l.open {
		errs = append(errs, p.Release(len(p.Faults) == 0))
		delete(l.open, id)
	}
	return errors.Join(errs...)
}

// writeInterrupted writes (or completes) a dead local run's journal.
func writeInterrupted(o Outcome, by string) error {
	j, err := journal.Read(o.Journal)
	if err != nil {
		j = nil
	}
	return completeInterrupted(o, by, j)
}

// completeInterrupted writes the dead run's journal j as read from
// o.Journal (nil: there is none, or it is unreadable), completed with
// what recovery did.
func completeInterrupted(o Outcome, by string, j *journal.Journal) error {
	if j == nil {
		now := time.Now()
		j = &journal.Journal{Format: journal.FormatVersion, RunID: o.RunID, Scenario: o.Scenario, StartedAt: now, EndedAt: now,
			Phases: []journal.Phase{}, Verdict: journal.Running}
	}
	for _, f := range o.Faults {
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
	msg := o.Message(by)
	if j.Verdict == journal.Running || j.Verdict == "" {
		// No final journal: the run died. What it measured is in its
		// sample log, which the journal now names.
		j.Verdict = journal.Interrupted
		msg = "the run died mid-run (kill -9, power loss); " + msg
		if err := j.AdoptSampleLog(journal.SampleLogBeside(o.Journal)); err != nil {
			msg += fmt.Sprintf("; its sample log is unreadable: %v", err)
		}
	}
	j.Reasons = append(j.Reasons, msg)
	if _, err := os.Stat(filepath.Dir(o.Journal)); err != nil {
		return err
	}
	return journal.Write(o.Journal, j)
}

var _ Ledger = (*journal.FileLedger)(nil)
