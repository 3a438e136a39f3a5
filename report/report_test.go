package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosctl/chaosctl/journal"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var fixtures = []string{"passed", "failed", "interrupted", "relapsed", "inconclusive", "load"}

var ext = map[string]string{"html": "html", "md": "md", "junit": "xml", "json": "json"}

func load(t *testing.T, name string) *journal.Journal {
	t.Helper()
	j, err := journal.Read(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestGolden renders every fixture journal in every format and compares
// with testdata/NAME.report.EXT (refresh with -update).
func TestGolden(t *testing.T) {
	for _, name := range fixtures {
		for _, format := range Formats() {
			t.Run(name+"/"+format, func(t *testing.T) {
				var b bytes.Buffer
				if err := Render(&b, load(t, name), format); err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", name+".report."+ext[format])
				if *update {
					if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if !bytes.Equal(b.Bytes(), want) {
					t.Errorf("%s differs from %s (run with -update after checking the change)", format, golden)
				}
			})
		}
	}
}

func TestUnknownFormat(t *testing.T) {
	err := Render(&bytes.Buffer{}, load(t, "passed"), "pdf")
	if !errors.Is(err, ErrUnknownFormat) || err.Error() != `unknown report format "pdf" (known: html, json, junit, md)` {
		t.Errorf("err = %v", err)
	}
}

// TestInterruptedSaysSo: every format says plainly that the run did not finish.
func TestInterruptedSaysSo(t *testing.T) {
	j := load(t, "interrupted")
	for _, format := range Formats() {
		var b bytes.Buffer
		if err := Render(&b, j, format); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "INTERRUPTED: this run did not finish") {
			t.Errorf("%s report of an interrupted run does not say so", format)
		}
	}
}

// TestHTMLSelfContained: one file, no scripts, nothing fetched; one chart
// per SLO with the parts the issue asks for.
func TestHTMLSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := Render(&b, load(t, "passed"), "html"); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"<script", "<link", "src=", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q: not self-contained", bad)
		}
	}
	for _, want := range []string{`<svg class="timeline"`, `class="fault"`, `class="recovered"`, `class="threshold"`, `class="latency"`, `class="fail"`,
		`class="runbook"`, `href="https://wiki.example.com/postmortems/INC-2107"`, "marker-present", "Runbook RTO"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if n := strings.Count(page, "<svg "); n != 1 {
		t.Errorf("%d charts, want one per SLO (1)", n)
	}
}

// TestJUnitCounts: the failed run's data check is a failing test case that
// a CI stage can gate on.
func TestJUnitCounts(t *testing.T) {
	var b bytes.Buffer
	if err := Render(&b, load(t, "failed"), "junit"); err != nil {
		t.Fatal(err)
	}
	var out junitSuites
	if err := xml.Unmarshal(b.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	s := out.Suites[0]
	if s.Failures != 2 || s.Errors != 0 || s.Tests != len(s.Cases) {
		t.Errorf("tests %d failures %d errors %d", s.Tests, s.Failures, s.Errors)
	}
	var failing []string
	for _, c := range s.Cases {
		if c.Failure != nil {
			failing = append(failing, c.Name)
		}
	}
	if got := strings.Join(failing, ","); got != "verdict,runbook data check marker-present" {
		t.Errorf("failing cases %s", got)
	}
}
