package steps

import (
	"context"
	"testing"
	"time"
)

func cmdStep(name string, argv ...string) Step {
	return Step{Name: name, Kind: KindCommand, Command: argv, Timeout: dur(5 * time.Second), OnFailure: "abort"}
}

func TestCommandStep(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		step    func() Step
		wantErr string
		detail  string
	}{
		{"ok", func() Step { return cmdStep("a", "true") }, "", "exit 0"},
		{"exit mismatch", func() Step { return cmdStep("a", "sh", "-c", "echo broken >&2; exit 3") }, "sh: exit 3, want 0: broken", "exit 3"},
		{"expected exit", func() Step { s := cmdStep("a", "sh", "-c", "exit 3"); s.ExpectExit = 3; return s }, "", "exit 3"},
		{"stdout regex", func() Step {
			s := cmdStep("a", "sh", "-c", "echo restored 42 rows")
			s.StdoutRegex = `restored \d+ rows`
			return s
		}, "", "exit 0"},
		{"stdout regex miss", func() Step {
			s := cmdStep("a", "echo", "nothing")
			s.StdoutRegex = `restored`
			return s
		}, `echo: stdout does not match "restored"`, "exit 0"},
		{"env and dir", func() Step {
			s := cmdStep("a", "sh", "-c", `test "$PWD" = "`+dir+`" && test "$MARK" = yes`)
			s.Env, s.Dir = map[string]string{"MARK": "yes"}, dir
			return s
		}, "", "exit 0"},
		{"missing command", func() Step { return cmdStep("a", "chaosctl-no-such-command") }, "start chaosctl-no-such-command: executable file not found in $PATH", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := commandStep{}.Run(context.Background(), c.step(), nil)
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || err.Error() != c.wantErr) {
				t.Fatalf("err = %v, want %q", err, c.wantErr)
			}
			if out.Detail != c.detail {
				t.Errorf("detail %q, want %q", out.Detail, c.detail)
			}
		})
	}
}
