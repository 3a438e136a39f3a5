package test

import (
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixture copies a journal from report/testdata into dir as RUN_ID.json.
func fixture(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "report", "testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), `"run_id": "`); ok {
			id = strings.TrimSuffix(v, `",`)
			break
		}
	}
	if err := os.WriteFile(filepath.Join(dir, id+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	passed := fixture(t, dir, "passed")
	failed := fixture(t, dir, "failed")
	interrupted := fixture(t, dir, "interrupted")
	ctx := context.Background()

	out := filepath.Join(t.TempDir(), "report.html")
	r := chaosctl(t, ctx, "report", passed, "--journal-dir", dir, "--format", "html", "--out", out)
	if r.code != 0 {
		t.Fatalf("report html: exit %d\n%s", r.code, r.stderr)
	}
	page, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(page), `<svg class="timeline"`) {
		t.Errorf("html report lacks the timeline (%v)", err)
	}

	r = chaosctl(t, ctx, "report", filepath.Join(dir, failed+".json"), "--format", "junit")
	var suites struct {
		Failures int `xml:"failures,attr"`
	}
	if r.code != 0 || xml.Unmarshal([]byte(r.stdout), &suites) != nil || suites.Failures == 0 {
		t.Errorf("junit of the failed run: exit %d, failures %d\n%s", r.code, suites.Failures, r.stderr)
	}

	r = chaosctl(t, ctx, "report", interrupted, "--journal-dir", dir, "--format", "md")
	if r.code != 0 || !strings.Contains(r.stdout, "INTERRUPTED: this run did not finish") {
		t.Errorf("md of the interrupted run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "/etc/hostname"}, "not a chaosctl journal"},
		{[]string{"report", "no-such-run", "--journal-dir", dir}, `no such run "no-such-run"`},
		{[]string{"report", passed, "--journal-dir", dir, "--format", "pdf"}, `unknown report format "pdf"`},
	} {
		r := chaosctl(t, ctx, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d stderr %q, want 2 and %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

func TestHistoryCommand(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"passed", "failed", "interrupted"} {
		fixture(t, dir, name)
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := chaosctl(t, context.Background(), "history", "--journal-dir", dir)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	// passed: SLO, recovery, runbook(2) all met = 4; failed: SLO, recovery met, runbook missed = 2 of 4.
	for _, want := range []string{"resilience score: 75.0 / 100 over the latest 2 scored runs", "excluded from the score: 1 interrupted", "incomplete"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("history lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "junk.json: not a chaosctl journal") {
		t.Errorf("stderr does not name the junk file: %q", r.stderr)
	}
}

// TestExamplesValidate: every example scenario is valid as shipped.
func TestExamplesValidate(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "scenarios", "examples", "*.toml"))
	if len(files) == 0 {
		t.Fatal("no example scenarios")
	}
	for _, f := range files {
		if r := chaosctl(t, context.Background(), "validate", f); r.code != 0 {
			t.Errorf("%s: exit %d\n%s%s", f, r.code, r.stdout, r.stderr)
		}
	}
}
