package scenarios

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/probes"
)

// probeCatalog is the fake fault catalog with one probe plugin, "queue",
// of kind "depth": the optional probes.Source ability.
type probeCatalog struct{ fakeCatalog }

type fakeKeysSpec struct{ keys plugins.Params }

func (s *fakeKeysSpec) SetKeys(p plugins.Params)            { s.keys = p }
func (s *fakeKeysSpec) Validate() []probes.FieldError       { return nil }
func (s *fakeKeysSpec) Build(string) (probes.Prober, error) { return nil, errors.New("fake") }

func (probeCatalog) ProbeKind(_ context.Context, name string) (probes.Kind, error) {
	if name != "queue.depth" {
		return probes.Kind{}, errors.New("probe plugin queue has no kind " + name)
	}
	return probes.Kind{Name: name, Keys: []plugins.Param{
		{Name: "queue", Type: plugins.TypeString, Required: true},
		{Name: "max", Type: plugins.TypeInt, Default: int64(100)},
	}, NewSpec: func() probes.Spec { return &fakeKeysSpec{} }}, nil
}

const pluginProbeScenario = `version = 1
name = "queue"
[[probe]]
name = "q"
kind = "%KIND%"
%KEYS%
[[slo]]
name = "s"
probe = "q"
availability = 99.0
[[fault]]
plugin = "process"
action = "kill"
[fault.target]
name = "x"
[recovery]
recover_within = "3s"
`

func TestPluginProbeKind(t *testing.T) {
	useFakeKinds(t)
	cat := probeCatalog{newFakeCatalog()}
	parse := func(kind, keys string) (*Scenario, error) {
		src := strings.NewReplacer("%KIND%", kind, "%KEYS%", keys).Replace(pluginProbeScenario)
		return Parse(context.Background(), "s.toml", []byte(src), cat)
	}
	s, err := parse("queue.depth", `queue = "orders"`)
	if err != nil {
		t.Fatal(err)
	}
	got := s.Probes[0].Spec.(*fakeKeysSpec).keys
	if got["queue"] != "orders" || got["max"] != int64(100) {
		t.Fatalf("keys %v, want the queue and the default max", got)
	}
	for _, tc := range []struct{ kind, keys, want string }{
		{"queue.depth", "queue = \"o\"\nmaxx = 3", `s.toml:7:1: probe[0].maxx: unknown key for probe kind "queue.depth" (known: max, queue)`},
		{"queue.depth", `max = 3`, `s.toml:3:1: probe[0].queue: required key for probe kind "queue.depth" (string)`},
		{"queue.depth", `queue = 3`, `s.toml:6:1: probe[0].queue:`},
		{"queue.size", `queue = "o"`, `s.toml:5:1: probe[0].kind: probe plugin queue has no kind queue.size`},
	} {
		_, err := parse(tc.kind, tc.keys)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: err = %v, want %q", tc.kind, tc.keys, err, tc.want)
		}
	}
	// Without a Source, a dotted kind is just unknown.
	if _, err := Parse(context.Background(), "s.toml", []byte(strings.NewReplacer("%KIND%", "queue.depth", "%KEYS%", `queue = "o"`).Replace(pluginProbeScenario)), newFakeCatalog()); err == nil || !strings.Contains(err.Error(), `unknown probe kind "queue.depth"`) {
		t.Errorf("no source: %v", err)
	}
}
