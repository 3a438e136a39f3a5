package stricttoml

import (
	"sync"
	"testing"
)

// TestPositionsLazy: a valid file is decoded without its index; the first
// position asked for builds it, once, whoever asks at the same time.
func TestPositionsLazy(t *testing.T) {
	doc, err := Parse("f.toml", []byte("name = \"x\"\n[probe]\n  url = \"http://h\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Pos.ix != nil || doc.Pos.data == nil {
		t.Fatal("the index was built for a file nobody asked a position of")
	}
	var wg sync.WaitGroup
	got := make([]Position, 8)
	for i := range got {
		wg.Go(func() { got[i] = doc.Pos.Lookup("probe.url") })
	}
	wg.Wait()
	for _, p := range got {
		if p != (Position{Line: 3, Col: 3}) {
			t.Fatalf("probe.url at %v, want 3:3", p)
		}
	}
	if doc.Pos.data != nil {
		t.Error("the text is kept once the index is built")
	}
	if p, ok := doc.Pos.Get("name"); !ok || p != (Position{Line: 1, Col: 1}) {
		t.Errorf("name: %v %v", p, ok)
	}
	var none *Positions
	if p := none.Lookup("x.y"); p != (Position{Line: 1, Col: 1}) {
		t.Errorf("nil Positions: %v, want 1:1", p)
	}
}
