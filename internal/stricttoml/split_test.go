package stricttoml

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// repeat is n copies of the table tmpl, %d replaced by the copy's number.
func repeat(n int, tmpl string) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(strings.ReplaceAll(tmpl, "%d", fmt.Sprint(i)))
	}
	return b.String()
}

// Whatever the pieces, parsing in pieces gives what one parse of the whole
// file gives: the same table, or the same error at the same place. pieces
// says whether two pieces are joined (else the file is parsed whole).
func TestParseInPiecesIsParseWhole(t *testing.T) {
	probe := "[[probe]]\nname = \"p%d\"\nkind = \"http\"\nurl = \"http://h/%d\"\n\n"
	tests := []struct {
		name   string
		doc    string
		pieces string // "joined", "whole", or "" where it depends on the cut
	}{
		{"probes", "version = 1\nname = \"x\"\n\n" + repeat(40, probe), "joined"},
		{"interleaved arrays and one table", "name = \"x\"\n" + repeat(20, probe+"[[slo]]\nname = \"s%d\"\n") + "[recovery]\nrecover_within = \"1s\"\n", "joined"},
		{"sub-tables of each element", repeat(30, probe+"[probe.headers]\nx = \"%d\"\n[[probe.check]]\nn = %d\n"), "joined"},
		{"quoted header and CRLF", strings.ReplaceAll(repeat(30, "[[\"probe\"]]\nname = 'p%d' # c\n"), "\n", "\r\n"), "joined"},
		{"headers inside strings and arrays", repeat(20, probe+"body = \"\"\"\n[[probe]]\nname = \"in a string\"\n\"\"\"\nlit = '''\n[[probe]]\n'''\nm = [\n[[1, 2]],\n[\"[[probe]]\"],\n]\nt = {a = [1, 2], b = \"]]\"}\n"), ""},
		{"datetimes and comments", repeat(30, "[[probe]] # a probe\nat = 1979-05-27 07:32:00Z\nn = -1_000 # n\nf = 6.5e-3\nok = true\n"), "joined"},
		// A later piece may name a table of an earlier one: whole then.
		{"element's table after another array", repeat(20, probe+"[[slo]]\nname = \"s%d\"\n[probe.headers]\nx = \"%d\"\n"), ""},
		{"root dotted key and its table", "a.b = 1\n" + repeat(30, probe) + "[a.c]\nx = 1\n", "whole"},
		// Errors: each must be the whole file's own.
		{"table twice, far apart", "[recovery]\nx = 1\n" + repeat(40, probe) + "[recovery]\ny = 2\n", "whole"},
		{"static array, then its tables", "probe = [{name = \"a\"}]\n" + repeat(40, probe), "whole"},
		{"bad value in the last probe", repeat(40, probe) + "[[probe]]\nname = \"unterminated\n", "whole"},
		{"key twice in a late probe", repeat(40, probe) + "[[probe]]\nname = \"a\"\nname = \"b\"\n", "whole"},
		{"unterminated multi-line string before a header", repeat(20, probe) + "x = \"\"\"\n" + repeat(20, probe), "whole"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.doc)
			var want map[string]any
			_, wantErr := toml.Decode(tt.doc, &want)
			joined := false
			if cuts := splitPoints(data, 2); cuts != nil {
				_, joined = parsePieces(data, cuts)
			}
			if (tt.pieces == "joined" && !joined) || (tt.pieces == "whole" && joined) {
				t.Errorf("joined in pieces: %v, want %s", joined, tt.pieces)
			}
			defer func(m int) { splitMin = m }(splitMin)
			splitMin = 0
			for _, n := range []int{2, 3, 4, 8} {
				cuts := splitPoints(data, n)
				var got map[string]any
				var err error
				if cuts == nil {
					_, err = toml.Decode(tt.doc, &got)
				} else {
					var ok bool
					if got, ok = parsePieces(data, cuts); !ok {
						got, err = parseTop(data)
					}
				}
				if !sameErr(err, wantErr) {
					t.Fatalf("%d pieces: error %v, want %v", n, err, wantErr)
				}
				if wantErr == nil && !reflect.DeepEqual(got, want) {
					t.Fatalf("%d pieces at %v: a different table from one parse's", n, cuts)
				}
				if top, err := parseTop(data); !sameErr(err, wantErr) || (err == nil && !reflect.DeepEqual(top, want)) {
					t.Fatalf("parseTop: %v, want %v", err, wantErr)
				}
			}
		})
	}
}

// sameErr: both nil, or the same message at the same position.
func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var pa, pb toml.ParseError
	if errors.As(a, &pa) && errors.As(b, &pb) {
		return pa.Message == pb.Message && pa.Position == pb.Position
	}
	return a.Error() == b.Error()
}

// The cuts fall at header lines, about evenly, never more than asked for.
func TestSplitPoints(t *testing.T) {
	doc := []byte("version = 1\n" + repeat(1000, "[[probe]]\nname = \"p%d\"\n"))
	for _, n := range []int{2, 3, 8} {
		cuts := splitPoints(doc, n)
		if len(cuts) != n || cuts[0] != 0 {
			t.Fatalf("%d pieces: cuts %v", n, cuts)
		}
		for i, c := range cuts[1:] {
			if !strings.HasPrefix(string(doc[c:]), "[[probe]]\n") {
				t.Errorf("cut %d at %q", c, doc[c:min(len(doc), c+12)])
			}
			if want := (i + 1) * len(doc) / n; c < want || c > want+len("[[probe]]\nname = \"p999\"\n") {
				t.Errorf("cut %d of %d at byte %d, want just after %d", i+1, n, c, want)
			}
		}
	}
	if cuts := splitPoints(doc, 1); cuts != nil {
		t.Errorf("one core: cuts %v", cuts)
	}
	if cuts := splitPoints([]byte("x = 1\n"+strings.Repeat("y = 2\n", 100)), 2); cuts != nil {
		t.Errorf("no header: cuts %v", cuts)
	}
	if cuts := splitPoints([]byte("[a]\nx = 1\n"+repeat(100, "[a.b%d]\nx = 1\n[[a.c]]\n")), 2); cuts != nil {
		t.Errorf("no [[name]] header: cuts %v", cuts)
	}
	// Sub-tables of one table cut apart share its name as tables: whole.
	sub := []byte("[a]\nx = 1\n" + repeat(100, "[a.b%d]\nx = 1\n") + "[[z]]\n")
	if cuts := []int{0, bytes.Index(sub, []byte("[a.b50]"))}; cuts[1] < 0 {
		t.Fatal("no such header")
	} else if _, ok := parsePieces(sub, cuts); ok {
		t.Error("pieces sharing a table were joined")
	}
}

// A cut in the wrong place (here inside a multi-line string) leaves the
// piece before it unterminated, so the pieces are refused, never joined.
func TestParsePiecesRefusesABadCut(t *testing.T) {
	doc := []byte("[[probe]]\nname = \"a\"\nbody = \"\"\"\n[[probe]]\nname = \"b\"\n\"\"\"\n[[probe]]\nname = \"c\"\n")
	inner := strings.Index(string(doc), "[[probe]]\nname = \"b\"")
	if _, ok := parsePieces(doc, []int{0, inner}); ok {
		t.Fatal("pieces cut inside a string were joined")
	}
	top, err := parseTop(doc)
	if err != nil || len(top["probe"].([]map[string]any)) != 2 {
		t.Fatalf("whole parse: %v %v", top, err)
	}
}

// FuzzParseInPieces: on any text, parsing in pieces gives one parse's
// table or its error. (go test -fuzz FuzzParseInPieces ./internal/stricttoml/)
func FuzzParseInPieces(f *testing.F) {
	for _, seed := range []string{
		"a = 1\n[[p]]\nx = 1\n[[p]]\nx = 2\n",
		"[[p]]\ns = \"\"\"\n[[p]]\n\"\"\"\n[[p]]\n[p.t]\nk = [\n[[1]],\n]\n",
		"[[p]]\n[[q]]\n[p.t]\n[[p]]\n",
		"[t]\n[[p]]\n[[p]]\n[t]\n",
		"p = []\n[[p]]\n",
		"[[\"p\"]]\nx = {a = 1}\n[[ p ]]\nx = 'lit' # c\r\n[[p]]\n",
	} {
		f.Add(seed)
	}
	defer func(m int) { splitMin = m }(splitMin)
	splitMin = 0
	f.Fuzz(func(t *testing.T, doc string) {
		var want map[string]any
		_, wantErr := toml.Decode(doc, &want)
		for _, n := range []int{2, 3} {
			cuts := splitPoints([]byte(doc), n)
			if cuts == nil {
				continue
			}
			got, ok := parsePieces([]byte(doc), cuts)
			if !ok {
				continue // parsed whole
			}
			if wantErr != nil {
				t.Fatalf("pieces %v joined a file that does not parse: %v", cuts, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("pieces %v: %v, want %v", cuts, got, want)
			}
		}
	})
}
