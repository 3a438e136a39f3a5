package scenarios

import (
	"reflect"

	"github.com/chaosctl/chaosctl/internal/stricttoml"
)

// KeyIndex maps every key path of a TOML document ("api.listen",
// "fault[0].params.signal") to where it stands.
func KeyIndex(data []byte) Index { return toIndex(stricttoml.BuildIndex(data)) }

func toIndex(ix stricttoml.Index) Index {
	out := make(Index, len(ix))
	for k, p := range ix {
		out[k] = Position(p)
	}
	return out
}

// Lookup returns where field stands or, when it is not in the file, where
// its nearest enclosing table starts; 1:1 when nothing encloses it.
func (ix Index) Lookup(field string) Position {
	for f := field; f != ""; f = parentPath(f) {
		if p, ok := ix[f]; ok {
			return p
		}
	}
	return Position{Line: 1, Col: 1}
}

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
