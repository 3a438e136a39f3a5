package scenarios

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadRunbook(t *testing.T) {
	useFakeKinds(t)
	s, err := Load(context.Background(), "testdata/runbook.toml", newFakeCatalog())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	rb := s.Runbook
	if rb == nil {
		t.Fatal("no runbook")
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"rto", rb.RTO.Duration, 15 * time.Second},
		{"before[0].name", rb.Before[0].Name, "backup"},
		{"before[0].dir", rb.Before[0].Dir, "/var/lib/app"},
		{"before[0].timeout default", rb.Before[0].Timeout.Duration, DefaultStepTimeout},
		{"before[0].on_failure default", rb.Before[0].OnFailure, "abort"},
		{"before[0].expect_exit default", rb.Before[0].ExpectExit, 0},
		{"step[0].env", rb.Steps[0].Env, map[string]string{"PGHOST": "db"}},
		{"step[0].timeout", rb.Steps[0].Timeout.Duration, 10 * time.Second},
		{"step[1].name default", rb.Steps[1].Name, "step-1"},
		{"step[1].method", rb.Steps[1].Method, "POST"},
		{"step[1].expect_status", rb.Steps[1].ExpectStatus, []int{200, 204}},
		{"step[1].on_failure", rb.Steps[1].OnFailure, "continue"},
		{"step[2].slo", rb.Steps[2].SLO, "web-up"},
		{"data_check.name default", rb.DataCheck.Name, "data-check"},
		{"data_check.method default", rb.DataCheck.Method, "GET"},
		{"data_check.expect_status default", rb.DataCheck.ExpectStatus, []int{200}},
		{"pos step[2]", s.Pos.Index()["runbook.step[2]"], Position{Line: 44, Col: 1}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
}

// TestRunbookRTODefault: without rto the recovery objective is the RTO.
func TestRunbookRTODefault(t *testing.T) {
	useFakeKinds(t)
	src := runbookScenario("[[runbook.step]]\nkind = \"wait\"\nprobe = \"web\"\n")
	s, err := Parse(context.Background(), "x.toml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Runbook.RTO.Duration != 7*time.Second {
		t.Errorf("rto = %s, want recover_within 7s", s.Runbook.RTO)
	}
}

// runbookScenario is a scenario whose runbook is steps (TOML).
func runbookScenario(steps string) string {
	return `version = 1
name = "x"
[[probe]]
name = "web"
kind = "http"
url = "http://localhost/"
[[slo]]
name = "up"
probe = "web"
availability = 99.0
[recovery]
recover_within = "7s"
` + steps
}

// TestStepKindErrors: the kinds, and the keys each takes, come from the
// registry in runbooks/steps; the errors name them at file:line:col.
func TestStepKindErrors(t *testing.T) {
	useFakeKinds(t)
	cases := []struct {
		name, step string
		want       []string
	}{
		{"no kind", "name = \"s\"\n", []string{
			"x.toml:13:1: runbook.step[0].kind: required (known: command, http, wait)"}},
		{"unknown kind lists the known ones", "kind = \"shell\"\n", []string{
			`x.toml:14:1: runbook.step[0].kind: unknown step kind "shell" (known: command, http, wait)`}},
		{"command takes", "kind = \"command\"\ncommand = [\"true\"]\nslo = \"up\"\n", []string{
			"x.toml:16:1: runbook.step[0].slo: " + `not a key of step kind "command" (it takes: command, env, dir, expect_exit, stdout_regex)`}},
		{"http takes", "kind = \"http\"\nurl = \"http://x/\"\ndir = \"/\"\n", []string{
			"x.toml:16:1: runbook.step[0].dir: " + `not a key of step kind "http" (it takes: method, url, headers, body, expect_status, body_regex)`}},
		{"wait takes", "kind = \"wait\"\nslo = \"up\"\nurl = \"http://x/\"\n", []string{
			"x.toml:16:1: runbook.step[0].url: " + `not a key of step kind "wait" (it takes: slo, probe)`}},
		{"wait names a probe", "kind = \"wait\"\nprobe = \"db\"\n", []string{
			"x.toml:15:1: runbook.step[0].probe: " + `unknown probe "db" (defined: web)`}},
		{"an undecoded key hides the step's whole-step error", "kind = \"wait\"\nslo = 3\n", []string{
			"x.toml:15:1: runbook.step[0].slo: want a string, got integer 3"}},
		{"a wrong type does not hide another key's error", "kind = \"command\"\ndir = 3\n", []string{
			`x.toml:13:1: runbook.step[0].command: required: the program and its arguments, e.g. ["cp", "backup.db", "data.db"]`,
			"x.toml:15:1: runbook.step[0].dir: want a string, got integer 3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(context.Background(), "x.toml", []byte(runbookScenario("[[runbook.step]]\n"+c.step)), nil)
			var got []string
			var list ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					got = append(got, e.Error())
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}
