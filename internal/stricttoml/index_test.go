package stricttoml

import (
	"reflect"
	"testing"
)

func TestBuildIndex(t *testing.T) {
	data := []byte(`# top
name = "x"
  indented = 1
"quoted key".sub = 'v'
a.b.c = [1, 2,
  3] # trailing
multi = """
line "two" ""
[not.a.header]
"""
lit = '''
x = 'y'
'''
inline = { k = 1, "q.k" = { deep = true }, arr = [{ e = 1 }, { e = 2 }] }
when = 1979-05-27 07:32:00Z
after = "ok"

[table]
  key = "v"
	tab = 2
[[arr]]
x = 1
[[arr]]
  x = 2
[arr.sub]
y = "\u00e9"
[[arr.list]]
z = 1
["weird \"name\""]
k = 1
`)
	ix := BuildIndex(data)
	want := map[string]Position{
		"name":               {2, 1},
		"indented":           {3, 3},
		`"quoted key"`:       {4, 1},
		`"quoted key".sub`:   {4, 14},
		"a":                  {5, 1},
		"a.b.c":              {5, 5},
		"a.b.c[2]":           {5, 5},
		"multi":              {7, 1},
		"lit":                {11, 1},
		"inline":             {14, 1},
		"inline.k":           {14, 12},
		`inline."q.k"`:       {14, 19},
		`inline."q.k".deep`:  {14, 29},
		"inline.arr[1]":      {14, 44},
		"inline.arr[1].e":    {14, 64},
		"when":               {15, 1},
		"after":              {16, 1},
		"table":              {18, 1},
		"table.key":          {19, 3},
		"table.tab":          {20, 2},
		"arr":                {21, 1},
		"arr[0]":             {21, 1},
		"arr[0].x":           {22, 1},
		"arr[1]":             {23, 1},
		"arr[1].x":           {24, 3},
		"arr[1].sub":         {25, 1},
		"arr[1].sub.y":       {26, 1},
		"arr[1].list[0]":     {27, 1},
		"arr[1].list[0].z":   {28, 1},
		`"weird \"name\""`:   {29, 1},
		`"weird \"name\"".k`: {30, 1},
	}
	for path, p := range want {
		if got, ok := ix[path]; !ok || got != p {
			t.Errorf("%s at %v (found %v), want %v", path, got, ok, p)
		}
	}
	for _, bogus := range []string{"not", "not.a.header", "x", "line"} {
		if _, ok := ix[bogus]; ok {
			t.Errorf("%s indexed from inside a string", bogus)
		}
	}
	if got := ix.Lookup("table.missing"); got != (Position{18, 1}) {
		t.Errorf("Lookup of a missing key = %v, want its table's header", got)
	}
	if got := ix.Lookup("nothing.here"); got != (Position{1, 1}) {
		t.Errorf("Lookup with nothing enclosing = %v, want 1:1", got)
	}
}

func TestPaths(t *testing.T) {
	for _, c := range []struct{ path, parent, last string }{
		{"probe[1].url", "probe[1]", "url"},
		{"probe[1]", "probe", "[1]"},
		{"probe", "", "probe"},
		{`fault[0].params."a.b"`, "fault[0].params", "a.b"},
		{`"x[1]".y`, `"x[1]"`, "y"},
	} {
		if got := Parent(c.path); got != c.parent {
			t.Errorf("Parent(%q) = %q, want %q", c.path, got, c.parent)
		}
		if got := Last(c.path); got != c.last {
			t.Errorf("Last(%q) = %q, want %q", c.path, got, c.last)
		}
	}
	if got := Join(Elem("fault", 0), "a b"); got != `fault[0]."a b"` {
		t.Errorf("Join = %q", got)
	}
	if got := Split(`a."b.c"[2].d`); !reflect.DeepEqual(got, []string{"a", `"b.c"`, "[2]", "d"}) {
		t.Errorf("Split = %q", got)
	}
}
