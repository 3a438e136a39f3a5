package scenarios

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/probes"
)

// The real probe kinds live in probes/ and are written in parallel; these
// small fakes stand in so the decoder's own logic can be tested on its own.

type fakeHTTPSpec struct {
	URL          string            `toml:"url"`
	ExpectStatus []int             `toml:"expect_status"`
	Headers      map[string]string `toml:"headers"`
}

func (s *fakeHTTPSpec) Validate() []probes.FieldError {
	var errs []probes.FieldError
	if s.URL == "" {
		errs = append(errs, probes.FieldError{Field: "url", Msg: "required"})
	}
	for _, st := range s.ExpectStatus {
		if st < 100 || st > 599 {
			errs = append(errs, probes.FieldError{Field: "expect_status", Msg: fmt.Sprintf("must be an HTTP status, got %d", st)})
		}
	}
	return errs
}

func (s *fakeHTTPSpec) Build(string) (probes.Prober, error) { return nil, errors.New("fake") }

type fakeTCPSpec struct {
	Address string `toml:"address"`
}

func (s *fakeTCPSpec) Validate() []probes.FieldError {
	if s.Address == "" {
		return []probes.FieldError{{Field: "address", Msg: "required"}}
	}
	return nil
}

func (s *fakeTCPSpec) Build(string) (probes.Prober, error) { return nil, errors.New("fake") }

var fakeKinds = []probes.Kind{
	{Name: "http", Doc: "fake http", NewSpec: func() probes.Spec { return &fakeHTTPSpec{} }},
	{Name: "tcp", Doc: "fake tcp", NewSpec: func() probes.Spec { return &fakeTCPSpec{} }},
}

// useFakeKinds stands the fake kinds in for the registry until the test ends.
func useFakeKinds(tb testing.TB) {
	oldLookup, oldList := lookupProbeKind, listProbeKinds
	lookupProbeKind = func(name string) (probes.Kind, bool) {
		for _, k := range fakeKinds {
			if k.Name == name {
				return k, true
			}
		}
		return probes.Kind{}, false
	}
	listProbeKinds = func() []probes.Kind { return fakeKinds }
	tb.Cleanup(func() { lookupProbeKind, listProbeKinds = oldLookup, oldList })
}

// fakeCatalog has two plugins: process (kill) and disk (fill).
type fakeCatalog map[string]*fakeFault

func newFakeCatalog() fakeCatalog {
	return fakeCatalog{
		"process": {desc: plugins.Descriptor{Name: "process", Actions: []plugins.Action{{
			Name: "kill",
			Params: []plugins.Param{
				{Name: "signal", Type: plugins.TypeString, Default: "KILL", Enum: []string{"KILL", "TERM", "STOP"}},
				{Name: "count", Type: plugins.TypeInt, Min: new(1.0), Max: new(10.0)},
			},
			Selector: []plugins.Param{
				{Name: "name", Type: plugins.TypeString},
				{Name: "pid", Type: plugins.TypeInt},
			},
		}}}},
		"disk": {desc: plugins.Descriptor{Name: "disk", Actions: []plugins.Action{{
			Name:       "fill",
			Reversible: true,
			Params: []plugins.Param{
				{Name: "percent", Type: plugins.TypeFloat, Required: true, Min: new(0.0), Max: new(100.0)},
				{Name: "block", Type: plugins.TypeDuration, Default: "1s"},
				{Name: "sync", Type: plugins.TypeBool},
				{Name: "exclude", Type: plugins.TypeStrings},
			},
			Selector: []plugins.Param{{Name: "path", Type: plugins.TypeString, Required: true}},
		}}}},
	}
}

func (c fakeCatalog) Lookup(_ context.Context, name string) (plugins.Fault, error) {
	f, ok := c[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", plugins.ErrUnknownPlugin, name)
	}
	return f, nil
}

func (c fakeCatalog) Names() []string {
	var out []string
	for n := range c {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

type fakeFault struct{ desc plugins.Descriptor }

var _ plugins.Fault = (*fakeFault)(nil)

func (f *fakeFault) Describe(context.Context) (plugins.Descriptor, error) { return f.desc, nil }

// Validate refuses to kill init and to fill the root file system, to show
// how a plugin's own errors (joined) reach the right keys.
func (f *fakeFault) Validate(_ context.Context, action string, params, selector plugins.Params) error {
	var errs []error
	if selector["name"] == "init" || selector["pid"] == int64(1) {
		errs = append(errs, &plugins.ValidationError{Field: "target.name", Msg: "refusing to kill init"})
		if params["signal"] == "KILL" {
			errs = append(errs, &plugins.ValidationError{Field: "params.signal", Msg: "KILL on init would take the host down"})
		}
	}
	if selector["path"] == "/" {
		errs = append(errs, &plugins.ValidationError{Field: "target.path", Msg: "refusing to fill /"})
	}
	return errors.Join(errs...)
}

func (f *fakeFault) Targets(context.Context, string, plugins.Params, plugins.Params) ([]plugins.Target, error) {
	return nil, nil
}

func (f *fakeFault) Inject(context.Context, plugins.InjectRequest) ([]byte, error) { return nil, nil }
func (f *fakeFault) Revert(context.Context, string, []byte) error                  { return nil }
func (f *fakeFault) Status(context.Context, string, []byte) (plugins.Status, error) {
	return plugins.Status{}, nil
}
