package scenarios

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
)

const formatDoc = "../docs/scenario-format.md"

// TestDocExample: the full example in the format doc loads.
func TestDocExample(t *testing.T) {
	useFakeKinds(t)
	doc, err := os.ReadFile(formatDoc)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## Full example")
	_, rest, ok2 := strings.Cut(rest, "```toml\n")
	example, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("no ```toml block under \"## Full example\"")
	}
	if _, err := Parse(context.Background(), "example.toml", []byte(example), newFakeCatalog()); err != nil {
		t.Errorf("doc example does not load:\n%v", err)
	}
}

// TestDocKeys: every key the decoder accepts is documented.
func TestDocKeys(t *testing.T) {
	doc, err := os.ReadFile(formatDoc)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		for key, i := range tomlFields(typ) {
			if !strings.Contains(string(doc), "`"+key+"`") && !strings.Contains(string(doc), "["+joinKey(path, key)+"]") {
				t.Errorf("key %s is not in %s", joinKey(path, key), formatDoc)
			}
			ft := typ.Field(i).Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[Duration]() {
				walk(ft, joinKey(path, key))
			}
		}
	}
	walk(reflect.TypeFor[Scenario](), "")
}
