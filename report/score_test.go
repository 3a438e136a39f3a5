package report

import (
	"math"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

type run struct {
	verdict   journal.Verdict
	slos      []bool
	recovered *bool
	runbook   *bool
	dry       bool
}

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

func journals(runs []run) []*journal.Journal {
	t0 := time.Unix(1_700_000_000, 0)
	var out []*journal.Journal
	for i, r := range runs { // runs[0] is the newest
		j := &journal.Journal{Verdict: r.verdict, DryRun: r.dry, StartedAt: t0.Add(-time.Duration(i) * time.Hour)}
		for _, held := range r.slos {
			j.SLOs = append(j.SLOs, journal.SLOResult{Held: held})
		}
		if r.recovered != nil {
			j.Recovery = &journal.Recovery{Recovered: *r.recovered}
		}
		if r.runbook != nil {
			j.Runbook = &journal.Runbook{Passed: *r.runbook}
		}
		out = append(out, j)
	}
	return out
}

func TestComputeScore(t *testing.T) {
	cases := []struct {
		name     string
		runs     []run
		n        int
		value    float64
		scored   int
		excluded map[journal.Verdict]int
	}{
		{"no runs", nil, 10, 0, 0, nil},
		{"all passed", []run{{verdict: journal.Passed, slos: []bool{true, true}, recovered: yes()}}, 10, 100, 1, nil},
		// 2 SLOs held + recovery missed: 2/3.
		{"recovery missed", []run{{verdict: journal.Failed, slos: []bool{true, true}, recovered: no()}}, 10, 200.0 / 3, 1, nil},
		// SLO 1 + recovery 1 met, runbook (2) failed: 2/4.
		{"runbook weighs two", []run{{verdict: journal.Failed, slos: []bool{true}, recovered: yes(), runbook: no()}}, 10, 50, 1, nil},
		// Aborted: everything missed, even what held.
		{"aborted counts as missed", []run{
			{verdict: journal.Passed, slos: []bool{true}, recovered: yes()},
			{verdict: journal.Aborted, slos: []bool{true}, recovered: yes()},
		}, 10, 50, 2, nil},
		{"aborted without items", []run{{verdict: journal.Aborted}}, 10, 0, 1, nil},
		{"excluded runs", []run{
			{verdict: journal.Interrupted},
			{verdict: journal.Error},
			{verdict: journal.NotSteady},
			{verdict: journal.Passed, slos: []bool{true}, recovered: yes()},
			{verdict: journal.Passed, dry: true},
		}, 10, 100, 1, map[journal.Verdict]int{journal.Interrupted: 1, journal.Error: 1, journal.NotSteady: 1}},
		// Only the newest n scored runs count; excluded ones take no place.
		{"last n", []run{
			{verdict: journal.Passed, slos: []bool{true}, recovered: yes()},
			{verdict: journal.Interrupted},
			{verdict: journal.Passed, slos: []bool{true}, recovered: yes()},
			{verdict: journal.Failed, slos: []bool{false}, recovered: no()},
		}, 2, 100, 2, map[journal.Verdict]int{journal.Interrupted: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := ComputeScore(journals(c.runs), c.n)
			if math.Abs(s.Value-c.value) > 1e-9 || s.Runs != c.scored {
				t.Errorf("score %.4f over %d runs, want %.4f over %d", s.Value, s.Runs, c.value, c.scored)
			}
			if len(s.Excluded) != len(c.excluded) {
				t.Errorf("excluded %v, want %v", s.Excluded, c.excluded)
			}
			for v, n := range c.excluded {
				if s.Excluded[v] != n {
					t.Errorf("excluded[%s] = %d, want %d", v, s.Excluded[v], n)
				}
			}
		})
	}
}

// TestComputeScoreOrder: the input order does not matter, start time does.
func TestComputeScoreOrder(t *testing.T) {
	js := journals([]run{
		{verdict: journal.Passed, slos: []bool{true}, recovered: yes()},
		{verdict: journal.Failed, slos: []bool{false}, recovered: no()},
	})
	js[0], js[1] = js[1], js[0]
	if s := ComputeScore(js, 1); s.Value != 100 {
		t.Errorf("score %v, want 100 from the newest run only", s.Value)
	}
}

// TestScoreRelapseAndInconclusive: a relapsed recovery is not met, and an
// inconclusive run is excluded, never scored as passed.
func TestScoreRelapseAndInconclusive(t *testing.T) {
	at := time.Unix(100, 0)
	rel := at.Add(time.Second)
	relapsed := &journal.Journal{RunID: "a", StartedAt: at, Verdict: journal.Failed,
		Recovery: &journal.Recovery{Recovered: true, RelapsedAt: &rel}}
	inconclusive := &journal.Journal{RunID: "b", StartedAt: at.Add(time.Minute), Verdict: journal.Inconclusive,
		Recovery: &journal.Recovery{Recovered: true}}
	sc := ComputeScore([]*journal.Journal{relapsed, inconclusive}, 10)
	if sc.Runs != 1 || sc.Met != 0 || sc.Passed != 0 || sc.Excluded[journal.Inconclusive] != 1 {
		t.Fatalf("score %+v, want the relapse missed and the inconclusive run excluded", sc)
	}
}
