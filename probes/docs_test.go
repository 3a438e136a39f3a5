package probes

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsExamples keeps docs/probes.md honest: every kind has a section,
// and every TOML example decodes strictly and validates.
func TestDocsExamples(t *testing.T) {
	b, err := os.ReadFile("../docs/probes.md")
	require.NoError(t, err)
	doc := string(b)

	for _, k := range Kinds() {
		assert.Contains(t, doc, "\n## `"+k.Name+"`\n", "kind %s is not documented", k.Name)
		typ := reflect.TypeOf(k.NewSpec()).Elem()
		for i := range typ.NumField() {
			key := typ.Field(i).Tag.Get("toml")
			assert.Contains(t, doc, "| `"+key+"`", "key %s of kind %s is not documented", key, k.Name)
		}
	}

	blocks := regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllStringSubmatch(doc, -1)
	require.NotEmpty(t, blocks)
	seen := map[string]bool{}
	for _, m := range blocks {
		specs, unknown := decodeProbes(t, m[1])
		assert.Empty(t, unknown, m[1])
		for _, s := range specs {
			assert.Empty(t, s.Validate(), m[1])
		}
		for _, line := range strings.Split(m[1], "\n") {
			if k, ok := strings.CutPrefix(line, "kind = "); ok {
				seen[strings.Trim(k, `"`)] = true
			}
		}
	}
	for _, k := range Kinds() {
		assert.True(t, seen[k.Name], "no TOML example for kind %s", k.Name)
	}
}
