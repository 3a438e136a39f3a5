package steps

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/probes"
)

func dur(d time.Duration) probes.Duration { return probes.Duration{Duration: d} }

// TestKindKeys: the kinds and the keys each takes, and every field of Step
// is a common key or exactly one kind's.
func TestKindKeys(t *testing.T) {
	want := []struct {
		kind string
		keys []string
	}{
		{KindCommand, []string{"command", "env", "dir", "expect_exit", "stdout_regex"}},
		{KindHTTP, []string{"method", "url", "headers", "body", "expect_status", "body_regex"}},
		{KindWait, []string{"slo", "probe"}},
	}
	got := Kinds()
	if len(got) != len(want) {
		t.Fatalf("kinds %q, want %d", Names(), len(want))
	}
	for i, w := range want {
		if got[i].Name != w.kind || !slices.Equal(got[i].Keys, w.keys) {
			t.Errorf("kind %d = %s %q, want %s %q", i, got[i].Name, got[i].Keys, w.kind, w.keys)
		}
	}
	owner := map[string]string{}
	for _, k := range CommonKeys {
		owner[k] = "common"
	}
	for _, k := range got {
		for _, key := range k.Keys {
			owner[key] = k.Name
		}
	}
	typ := reflect.TypeFor[Step]()
	for i := range typ.NumField() {
		if key := typ.Field(i).Tag.Get("toml"); owner[key] == "" {
			t.Errorf("Step field %s (%q) belongs to no kind", typ.Field(i).Name, key)
		}
	}
}

type nopSpec struct{}

func (nopSpec) Validate(*Step, Refs) []FieldError               { return nil }
func (nopSpec) Run(context.Context, Step, Env) (Outcome, error) { return Outcome{}, nil }

// TestRegisterPanics: a kind is registered once, and each key belongs to
// one kind.
func TestRegisterPanics(t *testing.T) {
	cases := []struct {
		name string
		kind Kind
		want string
	}{
		{"duplicate", Kind{Name: "a", Spec: nopSpec{}}, `steps: kind "a" registered twice`},
		{"no name", Kind{Spec: nopSpec{}}, "steps: kind without name or spec"},
		{"no spec", Kind{Name: "b"}, "steps: kind without name or spec"},
		{"not a Step field", Kind{Name: "b", Keys: []string{"retries"}, Spec: nopSpec{}}, `steps: kind "b": key "retries" is not a field of Step`},
		{"common key", Kind{Name: "b", Keys: []string{"timeout"}, Spec: nopSpec{}}, `steps: kind "b": key "timeout" is common to every kind`},
		{"another kind's key", Kind{Name: "b", Keys: []string{"url"}, Spec: nopSpec{}}, `steps: kind "b": key "url" is kind "a"'s`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := registry{}
			r.add(Kind{Name: "a", Keys: []string{"url"}, Spec: nopSpec{}})
			defer func() {
				if got := recover(); got != c.want {
					t.Errorf("panic %v, want %q", got, c.want)
				}
			}()
			r.add(c.kind)
		})
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, name := range []string{"shell", ""} {
		_, err := Lookup(name)
		if !errors.Is(err, ErrUnknownKind) || err.Error() != `unknown step kind "`+name+`" (known: command, http, wait)` {
			t.Errorf("Lookup(%q) = %v", name, err)
		}
	}
	if k, err := Lookup(KindWait); err != nil || k.NoDataCheck == "" {
		t.Errorf("Lookup(wait) = %+v, %v; want a kind that cannot be a data check", k, err)
	}
}

// TestValidate: each kind's checks and defaults.
func TestValidate(t *testing.T) {
	refs := Refs{SLOs: []string{"up"}, Probes: []string{"db", "web"}}
	cases := []struct {
		name string
		step Step
		want []FieldError
		then func(Step) string // checks the defaults filled in
	}{
		{"command", Step{Kind: KindCommand, Command: []string{"true"}}, nil, nil},
		{"command problems", Step{Kind: KindCommand, ExpectExit: 300, StdoutRegex: "("}, []FieldError{
			{Field: "command", Msg: `required: the program and its arguments, e.g. ["cp", "backup.db", "data.db"]`},
			{Field: "expect_exit", Msg: "300 is not an exit code (0..255)"},
			{Field: "stdout_regex", Msg: "bad regexp: error parsing regexp: missing closing ): `(`"},
		}, nil},
		{"http defaults", Step{Kind: KindHTTP, URL: "http://x/"}, nil, func(st Step) string {
			if st.Method != "GET" || !slices.Equal(st.ExpectStatus, []int{200}) {
				return "method and expect_status not defaulted"
			}
			return ""
		}},
		{"http problems", Step{Kind: KindHTTP, URL: "x/y", ExpectStatus: []int{99}, BodyRegex: "("}, []FieldError{
			{Field: "url", Msg: `"x/y" must be an absolute http:// or https:// URL`},
			{Field: "expect_status", Msg: "must be HTTP status codes, got 99"},
			{Field: "body_regex", Msg: "bad regexp: error parsing regexp: missing closing ): `(`"},
		}, nil},
		{"http no url", Step{Kind: KindHTTP}, []FieldError{{Field: "url", Msg: "required"}}, nil},
		{"wait slo", Step{Kind: KindWait, SLO: "up"}, nil, nil},
		{"wait probe", Step{Kind: KindWait, Probe: "db"}, nil, nil},
		{"wait neither", Step{Kind: KindWait}, []FieldError{{Msg: "a wait step needs exactly one of slo (wait until it holds) or probe (wait until it answers ok)"}}, nil},
		{"wait both", Step{Kind: KindWait, SLO: "up", Probe: "db"}, []FieldError{{Msg: "a wait step needs exactly one of slo (wait until it holds) or probe (wait until it answers ok)"}}, nil},
		{"wait unknown slo", Step{Kind: KindWait, SLO: "down"}, []FieldError{{Field: "slo", Msg: `unknown SLO "down" (defined: up)`}}, nil},
		{"wait unknown probe", Step{Kind: KindWait, Probe: "cache"}, []FieldError{{Field: "probe", Msg: `unknown probe "cache" (defined: db, web)`}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := Lookup(c.step.Kind)
			if err != nil {
				t.Fatal(err)
			}
			st := c.step
			if got := k.Spec.Validate(&st, refs); !reflect.DeepEqual(got, c.want) {
				t.Errorf("Validate = %q, want %q", got, c.want)
			}
			if c.then != nil {
				if msg := c.then(st); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}
