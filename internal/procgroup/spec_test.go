package procgroup

import (
	"context"
	"reflect"
	"testing"
)

func TestSpecProblems(t *testing.T) {
	cases := []struct {
		name string
		spec Spec
		want []Problem
	}{
		{"ok", Spec{Argv: []string{"true"}, Env: map[string]string{"A": "b"}, ExpectExit: 255, StdoutRegex: "^ok$"}, nil},
		{"no command", Spec{}, []Problem{{"command", `required: the program and its arguments, e.g. ["x"]`}}},
		{"empty program", Spec{Argv: []string{""}}, []Problem{{"command", `required: the program and its arguments, e.g. ["x"]`}}},
		{"env name", Spec{Argv: []string{"true"}, Env: map[string]string{"A=B": "c"}}, []Problem{{"env", `bad variable name "A=B"`}}},
		{"exit code", Spec{Argv: []string{"true"}, ExpectExit: 256}, []Problem{{"expect_exit", "256 is not an exit code (0..255)"}}},
		{"negative exit code", Spec{Argv: []string{"true"}, ExpectExit: -1}, []Problem{{"expect_exit", "-1 is not an exit code (0..255)"}}},
		{"regexp", Spec{Argv: []string{"true"}, StdoutRegex: "("}, []Problem{{"stdout_regex", "bad regexp: error parsing regexp: missing closing ): `(`"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.spec.Problems(`["x"]`); !reflect.DeepEqual(got, c.want) {
				t.Errorf("Problems() = %q, want %q", got, c.want)
			}
		})
	}
	if _, err := (Spec{StdoutRegex: "("}).Expect(); err == nil {
		t.Error("Expect() compiled a bad regexp")
	}
}

// TestJudge runs real commands and judges them as the cmd probe and the
// command step do.
func TestJudge(t *testing.T) {
	cases := []struct {
		name   string
		spec   Spec
		script string
		want   string
	}{
		{"ok", Spec{}, "exit 0", ""},
		{"expected code", Spec{ExpectExit: 3}, "exit 3", ""},
		{"code with stderr", Spec{}, "echo starting >&2; echo 'FATAL: no backup' >&2; exit 2", "exit 2, want 0: FATAL: no backup"},
		{"signal", Spec{}, "kill -TERM $$", "signal: terminated"},
		{"stdout", Spec{StdoutRegex: `restored \d+ rows`}, "echo restored 42 rows", ""},
		{"stdout miss", Spec{StdoutRegex: "restored"}, "echo nothing", `stdout does not match "restored"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := c.spec.Expect()
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), Command{Argv: []string{"sh", "-c", c.script}, StdoutMax: 1 << 10, StderrMax: 1 << 10})
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if err := e.Judge(res); err != nil {
				got = err.Error()
			}
			if got != c.want {
				t.Errorf("Judge() = %q, want %q", got, c.want)
			}
		})
	}
}
