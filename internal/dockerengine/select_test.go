package dockerengine

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosctl/chaosctl/plugins"
)

func ctr(id, name string, labels map[string]string) Container {
	return Container{ID: id + strings.Repeat("0", 64-len(id)), Name: name, Image: "api:1", Labels: labels, State: "running", Running: true}
}

func names(cs []Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func TestSelectorChoose(t *testing.T) {
	list := []Container{
		ctr("a1", "api-1", map[string]string{"app": "api", labelComposeProject: "shop", labelComposeService: "api"}),
		ctr("a2", "api-2", map[string]string{"app": "api", labelComposeProject: "shop", labelComposeService: "api"}),
		ctr("a3", "api-3", map[string]string{"app": "api", LabelSkip: "true"}),
		ctr("b1", "db", map[string]string{"app": "db", labelComposeProject: "shop", labelComposeService: "db"}),
		ctr("c1", "chaosctl", map[string]string{LabelManaged: "true", "app": "api"}),
		ctr("d1", "self", map[string]string{"app": "api"}),
	}
	self := list[5].ID
	tests := []struct {
		name string
		sel  plugins.Params
		want []string
	}{
		{"name", plugins.Params{"name": "db"}, []string{"db"}},
		{"id prefix", plugins.Params{"name": list[0].ID[:12]}, []string{"api-1"}},
		{"regex skips skip-labelled", plugins.Params{"name_regex": "^api-"}, []string{"api-1", "api-2"}},
		{"labels skip managed and self", plugins.Params{"labels": map[string]any{"app": "api"}}, []string{"api-1", "api-2"}},
		{"compose service", plugins.Params{"compose_project": "shop", "compose_service": "api"}, []string{"api-1", "api-2"}},
		{"image", plugins.Params{"image": "api:1", "count": int64(2)}, []string{"api-1", "api-2"}},
		{"count", plugins.Params{"name_regex": "^api", "count": int64(1)}, []string{"api-1"}},
		{"percent rounds up", plugins.Params{"compose_project": "shop", "percent": 50.0}, []string{"api-1", "api-2"}},
		{"none", plugins.Params{"name": "nope"}, nil},
		{"skip label by name", plugins.Params{"name": "api-3"}, nil},
		{"own container by name", plugins.Params{"name": "chaosctl"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, errs := parseSelector(tc.sel)
			require.Empty(t, errs)
			assert.Equal(t, tc.want, names(s.choose(list, self, nil)))
		})
	}
}

func TestSelectorRandomPicksCount(t *testing.T) {
	var list []Container
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		list = append(list, ctr(n, n, map[string]string{"app": "x"}))
	}
	s, errs := parseSelector(plugins.Params{"labels": map[string]any{"app": "x"}, "count": int64(2), "random": true})
	require.Empty(t, errs)
	seen := map[string]bool{}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		got := s.choose(list, "", rng)
		require.Len(t, got, 2)
		for _, c := range got {
			seen[c.Name] = true
		}
	}
	assert.Greater(t, len(seen), 2, "random selection always picked the same containers")
}
