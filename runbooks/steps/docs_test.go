package steps

import (
	"os"
	"strings"
	"testing"
)

// TestDocs keeps the docs on the registry: the format reference has a
// section per kind with a row per key, and the README's runbook section
// names every kind and key.
func TestDocs(t *testing.T) {
	b, err := os.ReadFile("../../docs/scenario-format.md")
	if err != nil {
		t.Fatal(err)
	}
	format := string(b)
	b, err = os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, readme, _ := strings.Cut(string(b), "\n## Runbooks\n")
	readme, _, _ = strings.Cut(readme, "\n## ")

	for _, k := range Kinds() {
		_, section, ok := strings.Cut(format, "`kind = \""+k.Name+"\"`")
		if !ok {
			t.Errorf("docs/scenario-format.md: no section for step kind %s", k.Name)
			continue
		}
		section, _, _ = strings.Cut(section, "`kind = ")
		if !strings.Contains(readme, "`"+k.Name+"`") {
			t.Errorf("README.md, Runbooks: step kind %s is not named", k.Name)
		}
		for _, key := range k.Keys {
			if !strings.Contains(section, "| `"+key+"` |") {
				t.Errorf("docs/scenario-format.md: key %s of step kind %s has no row", key, k.Name)
			}
			if !strings.Contains(readme, "`"+key+"`") {
				t.Errorf("README.md, Runbooks: key %s of step kind %s is not named", key, k.Name)
			}
		}
	}
	for _, key := range CommonKeys {
		if !strings.Contains(format, "| `"+key+"` |") {
			t.Errorf("docs/scenario-format.md: common step key %s has no row", key)
		}
	}
}
