package scenarios

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no input makes Parse panic, and every failure is an ErrorList
// whose errors all have a real position.
func FuzzParse(f *testing.F) {
	useFakeKinds(f)
	files, _ := filepath.Glob("testdata/*.toml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("probe = [{name = 1}, 2, {kind = \"http\", url = [1]}]\n[[fault]]\nparams = 3\n"))
	f.Add([]byte("[a.b]\n[[a.b.c]]\n\"q.x\".y = 1\n[[probe]]\n[probe.x]\n"))
	cat := newFakeCatalog()
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(context.Background(), "fuzz.toml", data, cat)
		if err == nil {
			if s == nil {
				t.Fatal("nil scenario without error")
			}
			return
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error is %T, want a non-empty ErrorList: %v", err, err)
		}
		for _, e := range list {
			if e.Line < 1 || e.Col < 1 {
				t.Fatalf("error without position: %q", e.Error())
			}
		}
	})
}
