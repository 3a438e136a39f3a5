package report

import (
	"bytes"
	"strings"
	"testing"
)

// TestLoadIntervalsShown: the Markdown and HTML reports show a load
// probe's totals and a row per interval; JUnit is the same with or
// without the aggregate.
func TestLoadIntervalsShown(t *testing.T) {
	j := load(t, "load")
	n := len(j.Load[0].Intervals)
	for format, row := range map[string]string{"md": "\n| +", "html": "<tr><td>&#43;"} {
		var b bytes.Buffer
		if err := Render(&b, j, format); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if got := strings.Count(out, row); got != n {
			t.Errorf("%s: %d interval rows, want %d", format, got, n)
		}
		for _, want := range []string{"shop-traffic", "192 (15.24%)", "+2s: 179 of 201 failed", "+3s: p99 12.3ms"} {
			if format == "html" {
				want = strings.ReplaceAll(want, "+", "&#43;")
			}
			if !strings.Contains(out, want) {
				t.Errorf("%s report lacks %q", format, want)
			}
		}
	}
	var with, without bytes.Buffer
	if err := Render(&with, j, "junit"); err != nil {
		t.Fatal(err)
	}
	j.Load = nil
	if err := Render(&without, j, "junit"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(with.Bytes(), without.Bytes()) {
		t.Error("the load aggregate changed the JUnit report")
	}
}
