package scenarios

import (
	"reflect"

	"github.com/chaosctl/chaosctl/internal/stricttoml"
)

// KeyIndex maps every key path of a TOML document ("api.listen",
// "fault[0].params.signal") to where it stands.
func KeyIndex(data []byte) Index { return stricttoml.BuildIndex(data) }

// The path syntax is stricttoml's: "fault[0].params.signal".
func joinKey(path, part string) string    { return stricttoml.Join(path, part) }
func indexPath(path string, i int) string { return stricttoml.Elem(path, i) }
func parentPath(path string) string       { return stricttoml.Parent(path) }
func lastKey(path string) string          { return stricttoml.Last(path) }

// tomlFields maps each TOML key of struct type t to its field index.
func tomlFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for _, k := range stricttoml.Keys(t) {
		out[k], _ = stricttoml.FieldIndex(t, k)
	}
	return out
}
