package report

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins"
)

func TestMarkdownEscaping(t *testing.T) {
	for _, tc := range []struct {
		name, got, want string
	}{
		{"tag", text(`<img src=x onerror=alert(1)>`), `&lt;img src=x onerror=alert(1)&gt;`},
		{"entity", text(`&lt;script&gt;`), `&amp;lt;script&amp;gt;`},
		{"autolink", text(`<javascript:alert(1)>`), `&lt;javascript:alert(1)&gt;`},
		{"inline link", text(`[click](javascript:alert(1))`), `\[click\](javascript:alert(1))`},
		{"image", text(`![x](http://evil/)`), `!\[x\](http://evil/)`},
		{"escape not undone", text(`\[x](javascript:y)`), `\\\[x\](javascript:y)`},
		{"code span", text("`<b>`"), "\\`&lt;b&gt;\\`"},
		{"new block", text("ok\n[x]: javascript:alert(1)\n# heading"), `ok \[x\]: javascript:alert(1) # heading`},
		{"plain text unchanged", text(`p99 2.8ms (10 samples, held) 99%`), `p99 2.8ms (10 samples, held) 99%`},
		{"cell", cellText("a|b\nc"), `a\|b c`},
		{"code", code("run-1"), "`run-1`"},
		{"code with backticks", code("a`b``c"), "```a`b``c```"},
		{"code starting with one", code("`x"), "`` `x ``"},
		{"code keeps HTML inert", code("<b>"), "`<b>`"},
		{"http link", link("INC-1", "https://wiki.example.com/pm/INC-1"), "[INC-1](https://wiki.example.com/pm/INC-1)"},
		{"link label escaped", link("a]b", "http://x/"), `[a\]b](http://x/)`},
		{"link destination cannot end early", link("x", "http://x/a)b(c d<e"), "[x](http://x/a%29b%28c%20d%3Ce)"},
		{"javascript", link("INC-1", "javascript:alert(1)"), "INC-1 (javascript:alert(1), not linked: not an http or https URL)"},
		{"javascript as label", link("javascript:alert(1)", "javascript:alert(1)"), "javascript:alert(1) (not linked: not an http or https URL)"},
		{"upper case scheme", link("x", "JavaScript:alert(1)"), "x (JavaScript:alert(1), not linked: not an http or https URL)"},
		{"data", link("x", "data:text/html,<script>alert(1)</script>"), "x (data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;, not linked: not an http or https URL)"},
		{"no host", link("x", "http:/etc/passwd"), "x (http:/etc/passwd, not linked: not an http or https URL)"},
		{"relative", link("x", "/pm/1"), "x (/pm/1, not linked: not an http or https URL)"},
		{"no url", link("INC-1", ""), "INC-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got  %s\nwant %s", tc.got, tc.want)
			}
		})
	}
}

// hostile is a journal whose every string tries to become HTML, a link
// or Markdown of its own.
func hostile() *journal.Journal {
	at := time.Date(2026, 11, 21, 23, 48, 1, 0, time.UTC)
	inj, rev := at.Add(time.Second), at.Add(2*time.Second)
	return &journal.Journal{
		Format: journal.FormatVersion, RunID: "r1</sub><script>alert(1)</script>", Scenario: "x` <img src=x onerror=alert(1)> `",
		Postmortem: journal.Postmortem{ID: "INC-<b>1</b>", URL: "javascript:alert(document.cookie)", Summary: "line one\n<iframe src=//evil></iframe>\n[x]: javascript:alert(1)"},
		StartedAt:  at, EndedAt: at.Add(3 * time.Second), Verdict: journal.Failed,
		Reasons: []string{"probe said <script>alert(1)</script>", "see [here](javascript:alert(1))"},
		SLOs:    []journal.SLOResult{{Name: "a|b", Objective: "p99 < 50ms & <u>fast</u>", Phases: map[journal.PhaseName]journal.SLOFigure{}}},
		Faults: []journal.Fault{{ID: "f/0", Name: "<i>f</i>", Plugin: "process", Action: "pause", Target: plugins.Target{Kind: "process", ID: "1", Name: "<svg onload=alert(1)>"},
			InjectedAt: &inj, RevertedAt: &rev}},
		Runbook: &journal.Runbook{Steps: []journal.Step{{Name: "![img](http://evil/x.png)", Kind: "command", Status: "<blink>ok</blink>", Detail: "exit 0 `<b>`"}}},
	}
}

// TestMarkdownHostileJournal: nothing of a hostile journal is live in the
// Markdown summary (golden file testdata/hostile.report.md, -update).
func TestMarkdownHostileJournal(t *testing.T) {
	var b bytes.Buffer
	if err := renderMarkdown(&b, hostile()); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	// Outside code spans (where nothing is HTML or a link) no tag is left,
	// and no unescaped bracket opens a link or a link definition.
	live := withoutCodeSpans(got)
	for _, tag := range []string{"<script", "<img", "<iframe", "<svg", "<b>", "<i>", "<u>", "<blink"} {
		if strings.Contains(live, tag) {
			t.Errorf("summary holds %q outside a code span", tag)
		}
	}
	if m := regexp.MustCompile(`(^|[^\\])[\[\]]`).FindString(live); m != "" {
		t.Errorf("summary holds an unescaped bracket: %q", m)
	}
	if strings.Contains(live, "(javascript:alert(document.cookie))") {
		t.Error("the javascript: post-mortem URL is a link")
	}
	golden := filepath.Join("testdata", "hostile.report.md")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("differs from %s (run with -update after checking the change):\n%s", golden, got)
	}
}

// withoutCodeSpans drops every code span: a run of backticks up to the next
// run of the same length.
func withoutCodeSpans(s string) string {
	var out strings.Builder
	for {
		i := strings.IndexByte(s, '`')
		if i < 0 {
			return out.String() + s
		}
		out.WriteString(s[:i])
		n := len(s[i:]) - len(strings.TrimLeft(s[i:], "`"))
		fence, rest := s[i:i+n], s[i+n:]
		end := -1
		for j := 0; j < len(rest); {
			k := strings.Index(rest[j:], fence)
			if k < 0 {
				break
			}
			k += j
			if m := len(rest[k:]) - len(strings.TrimLeft(rest[k:], "`")); m == n {
				end = k
				break
			} else {
				j = k + m
			}
		}
		if end < 0 { // not a span: the backticks are text
			out.WriteString(fence)
			s = rest
			continue
		}
		s = rest[end+n:]
	}
}
