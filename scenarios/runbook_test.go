package scenarios

import (
	"context"
	"reflect"
	"slices"
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
		{"before[0].expect_exit default", *rb.Before[0].ExpectExit, 0},
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
		{"pos step[2]", s.Pos["runbook.step[2]"], Position{Line: 44, Col: 1}},
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
	src := `version = 1
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
[[runbook.step]]
kind = "wait"
probe = "web"
`
	s, err := Parse(context.Background(), "x.toml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Runbook.RTO.Duration != 7*time.Second {
		t.Errorf("rto = %s, want recover_within 7s", s.Runbook.RTO)
	}
}

// TestStepKindsKeys: every kind-specific key StepKinds lists is a field of
// Step, and every field of Step is either common or some kind's.
func TestStepKindsKeys(t *testing.T) {
	fields := tomlFields(reflect.TypeFor[Step]())
	common := []string{"name", "kind", "timeout", "on_failure"}
	seen := map[string]bool{}
	for kind, keys := range StepKinds {
		for _, k := range keys {
			if _, ok := fields[k]; !ok {
				t.Errorf("StepKinds[%q] lists %q, not a Step field", kind, k)
			}
			seen[k] = true
		}
	}
	for k := range fields {
		if !seen[k] && !slices.Contains(common, k) {
			t.Errorf("Step field %q belongs to no kind", k)
		}
	}
}
