package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosctl/chaosctl/journal"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestSummaryGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/journal.json")
	if err != nil {
		t.Fatal(err)
	}
	var j journal.Journal
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	got := summary(&j, "/var/lib/chaosctl/journals/"+j.RunID+".json")
	golden(t, "summary.golden", got)
}

func TestValidateOutput(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		golden string
	}{
		{"good", []string{"validate", "../../scenarios/examples/process-crash.toml"}, 0, "validate-good.golden"},
		{"bad", []string{"validate", "../../scenarios/testdata/bad-ratios.toml"}, 2, "validate-bad.golden"},
		{"bad json", []string{"validate", "-o", "json", "../../scenarios/testdata/bad-ratios.toml"}, 2, "validate-bad-json.golden"},
		{"missing file", []string{"validate", "nope.toml"}, 2, "validate-missing.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Execute(context.Background(), tt.args, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out.String(), errb.String())
			}
			golden(t, tt.golden, out.String()+"--- stderr\n"+errb.String())
		})
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{"run"}, {"frobnicate"}, {"run", "--nope", "x"}, {"-o", "yaml", "version"}} {
		var out, errb bytes.Buffer
		if code := Execute(context.Background(), args, &out, &errb); code != ExitInvalid {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if !strings.Contains(errb.String(), "chaosctl:") {
			t.Errorf("%v: stderr %q lacks an error", args, errb.String())
		}
	}
}
