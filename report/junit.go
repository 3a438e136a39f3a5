package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// JUnit XML, as Jenkins, GitLab and GitHub test reporters read it: one
// testsuite per run; a test case for the verdict, each SLO, the recovery
// objective, and the runbook's RTO, data check and every step.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	ID         string          `xml:"id,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func renderJUnit(w io.Writer, j *journal.Journal) error {
	class := "chaosctl." + j.Scenario
	var cases []junitCase
	add := func(c junitCase) {
		c.Classname = class
		if c.Time == "" {
			c.Time = "0.000"
		}
		cases = append(cases, c)
	}

	total := time.Duration(0)
	if !j.EndedAt.IsZero() {
		total = j.EndedAt.Sub(j.StartedAt)
	}
	verdict := junitCase{Name: "verdict", Time: secs(total), SystemOut: strings.Join(j.Reasons, "\n")}
	msg := headline(j)
	switch j.Verdict {
	case journal.Passed:
	case journal.Failed, journal.Aborted:
		verdict.Failure = &junitProblem{Message: msg, Type: string(j.Verdict), Text: strings.Join(j.Reasons, "\n")}
	default: // not-steady, error, interrupted, running: the run proved nothing
		verdict.Error = &junitProblem{Message: msg, Type: string(j.Verdict), Text: strings.Join(j.Reasons, "\n")}
	}
	add(verdict)

	for _, s := range j.SLOs {
		c := junitCase{Name: "slo " + s.Name}
		var lines []string
		for _, p := range sloPhases {
			if f, ok := s.Phases[p]; ok {
				lines = append(lines, string(p)+": "+figureText(f, true))
			}
		}
		c.SystemOut = s.Objective + "\n" + strings.Join(lines, "\n")
		if !s.Held {
			c.Failure = &junitProblem{Message: fmt.Sprintf("SLO %s (%s) did not hold where it had to", s.Name, s.Objective), Type: "slo", Text: c.SystemOut}
		}
		add(c)
	}
	if rc := j.Recovery; rc != nil {
		c := junitCase{Name: fmt.Sprintf("recovery within %s", rc.Objective), SystemOut: recoveryText(rc)}
		if rc.Duration != nil {
			c.Time = secs(*rc.Duration)
		}
		switch {
		case !rc.Recovered:
			c.Failure = &junitProblem{Message: "time to recover: " + recoveryText(rc), Type: "recovery"}
		case rc.RelapsedAt != nil:
			c.Failure = &junitProblem{Message: fmt.Sprintf("recovered at +%s, relapsed at +%s (SLO %s)",
				ms(*rc.Duration), ms(rc.RelapsedAt.Sub(rc.From)), rc.RelapsedSLO), Type: "relapse"}
		}
		add(c)
	}
	for _, f := range j.Faults {
		if f.InjectedAt == nil || f.Effect == "" {
			continue
		}
		c := junitCase{Name: fmt.Sprintf("fault %s effect", f.ID), SystemOut: EffectText(f)}
		switch {
		case f.Effect == journal.EffectNotInEffect:
			c.Failure = &junitProblem{Message: EffectText(f), Type: "effect"}
		case f.VanishedAt != nil && f.Reapplied == 0:
			c.Failure = &junitProblem{Message: EffectText(f), Type: "vanished"}
		case f.Effect == journal.EffectUnverified:
			c.Skipped = &junitProblem{Message: EffectText(f)}
		}
		add(c)
	}
	if rb := j.Runbook; rb != nil {
		for _, s := range stepRows(rb) {
			c := junitCase{Name: fmt.Sprintf("runbook %s %s", s.Stage, s.Name), Time: secs(s.Duration), SystemOut: s.Output}
			switch s.Status {
			case journal.StepFailed:
				c.Failure = &junitProblem{Message: s.Error, Type: "runbook-step"}
			case journal.StepSkipped:
				c.Skipped = &junitProblem{Message: s.Error}
			}
			add(c)
		}
		if finished(j) || rb.TimeToRestore != nil {
			c := junitCase{Name: fmt.Sprintf("runbook rto %s", rb.RTO), SystemOut: rtoText(rb)}
			if rb.TimeToRestore != nil {
				c.Time = secs(*rb.TimeToRestore)
			}
			if !rb.RTOMet {
				c.Failure = &junitProblem{Message: "runbook RTO: " + rtoText(rb), Type: "rto"}
			}
			add(c)
		}
	}

	suite := junitSuite{
		Name: j.Scenario, ID: j.RunID, Time: secs(total), Timestamp: j.StartedAt.UTC().Format("2006-01-02T15:04:05"),
		Properties: []junitProperty{{"run_id", j.RunID}, {"verdict", string(j.Verdict)}, {"exit_code", fmt.Sprint(j.Verdict.ExitCode())}},
		Cases:      cases,
	}
	if pm := j.Postmortem; pm.ID != "" || pm.URL != "" {
		suite.Properties = append(suite.Properties, junitProperty{"postmortem", strings.TrimSpace(pm.ID + " " + pm.URL)})
	}
	for _, c := range cases {
		suite.Tests++
		switch {
		case c.Failure != nil:
			suite.Failures++
		case c.Error != nil:
			suite.Errors++
		case c.Skipped != nil:
			suite.Skipped++
		}
	}
	out := junitSuites{Name: "chaosctl", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Skipped: suite.Skipped, Time: suite.Time, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
