// Package stricttoml reads TOML files strictly, over BurntSushi/toml: a key
// that names no field is an error, a value of the wrong TOML type is an
// error on its field, and every error names file:line:col and the key path
// ("fault[0].params.signal", "probe[1].url"). Scenarios and the daemon
// config both read their files through it.
//
// BurntSushi/toml parses the file once (Parse; a big file in pieces at
// once, one per core, where that gives the same table, see split.go); the
// Decoder then places the values it parsed into Go fields by BurntSushi's
// own rules, key by key, which is what lets it report every problem and
// not only the first.
// (Going back to BurntSushi for each value, through Primitive, cost more
// than the parse itself on a file of 40,000 probes.) BurntSushi keeps no
// position for keys, and names the elements of arrays of tables without
// their index, so the package builds its own position Index in one pass
// over the text (BuildIndex), when a position is first asked for.
package stricttoml

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Position is a 1-based line and column (in bytes) in a file.
type Position struct {
	Line, Col int
}

// Index maps a key path such as "fault[0].params.signal" or "probe[1].url"
// to where its key stands in the file. Tables opened by a header stand at
// the header's bracket; elements of an inline array at their array's key.
type Index map[string]Position

// Positions is a file's Index, built on first use: positions are needed
// only to say where something is wrong, and most files are right, so a
// valid file is decoded without the index (a big win on big files: the
// index is larger than the text it is built from). The zero value and nil
// know no position (everything is at 1:1).
type Positions struct {
	once sync.Once
	data []byte // until the index is built; must not change meanwhile
	ix   Index
}

// NewPositions is the lazily built index of data.
func NewPositions(data []byte) *Positions { return &Positions{data: data} }

// Index builds the index, the first time, and returns it.
func (p *Positions) Index() Index {
	if p == nil {
		return nil
	}
	p.once.Do(func() {
		if p.data != nil {
			p.ix = BuildIndex(p.data)
		}
		p.data = nil
	})
	return p.ix
}

// Lookup is Index().Lookup.
func (p *Positions) Lookup(path string) Position { return p.Index().Lookup(path) }

// Get is where path itself stands, if it is in the file.
func (p *Positions) Get(path string) (Position, bool) {
	pos, ok := p.Index()[path]
	return pos, ok
}

// Lookup returns where path stands or, when it is not in the file, where
// its nearest enclosing table starts; 1:1 when nothing encloses it.
func (ix Index) Lookup(path string) Position {
	for f := path; f != ""; f = Parent(f) {
		if p, ok := ix[f]; ok {
			return p
		}
	}
	return Position{Line: 1, Col: 1}
}

func (ix Index) has(path string) bool {
	_, ok := ix[path]
	return ok
}

// Expand turns a key as BurntSushi names it (array elements not numbered,
// so "fault.params" stands for every fault's params) into the numbered
// paths present in the index, sorted.
func (ix Index) Expand(key []string) []string {
	cands := []string{""}
	for _, part := range key {
		var next []string
		for _, c := range cands {
			p := Join(c, part)
			if !ix.has(p) {
				continue
			}
			if ix.has(Elem(p, 0)) {
				for n := 0; ix.has(Elem(p, n)); n++ {
					next = append(next, Elem(p, n))
				}
				continue
			}
			next = append(next, p)
		}
		cands = next
	}
	sort.Strings(cands)
	return cands
}

// Join appends one key to a path, quoting it the way TOML would when it is
// not a bare key.
func Join(path, key string) string {
	if !isBare(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// Elem is the path of element i of the array at path.
func Elem(path string, i int) string {
	var buf [64]byte
	b := append(append(buf[:0], path...), '[')
	return string(append(strconv.AppendInt(b, int64(i), 10), ']'))
}

func isBare(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isBareByte(s[i]) {
			return false
		}
	}
	return true
}

func isBareByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// Split cuts a path into its parts: keys (quoted as written) and [n]
// indexes. It is the inverse of Join and Elem.
func Split(path string) []string {
	var parts []string
	for i := 0; i < len(path); {
		switch path[i] {
		case '.':
			i++
		case '[':
			j := strings.IndexByte(path[i:], ']')
			if j < 0 {
				return append(parts, path[i:])
			}
			parts = append(parts, path[i:i+j+1])
			i += j + 1
		case '"':
			j := i + 1
			for j < len(path) && path[j] != '"' {
				if path[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(path))
			parts = append(parts, path[i:j])
			i = j
		default:
			j := i
			for j < len(path) && path[j] != '.' && path[j] != '[' {
				j++
			}
			parts = append(parts, path[i:j])
			i = j
		}
	}
	return parts
}

// Parent drops the last part of a path: "probe[1].url" -> "probe[1]" ->
// "probe" -> "".
func Parent(path string) string {
	// The last part starts at the last '.' or '[' outside quotes.
	cut, quoted := 0, false
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && (c == '.' || c == '['):
			cut = i
		}
	}
	return path[:cut]
}

// Last is the last key of path, unquoted.
func Last(path string) string {
	parts := Split(path)
	if len(parts) == 0 {
		return ""
	}
	p := parts[len(parts)-1]
	if u, err := strconv.Unquote(p); err == nil {
		return u
	}
	return p
}

// Error is one problem in a file, at the key it concerns.
type Error struct {
	File      string
	Line, Col int
	Field     string // key path such as "probe[1].url"; empty for syntax errors
	Msg       string

	err error // BurntSushi's, for a syntax error
}

// Unwrap returns BurntSushi's toml.ParseError behind a syntax error.
func (e *Error) Unwrap() error { return e.err }

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Col, e.Field, e.Msg)
}

// ErrorList is every problem found in one file, one a line.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.As find a single *Error in the list.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// Sort orders the list by position, keeping the order of errors at the
// same position.
func (l ErrorList) Sort() {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Line != l[j].Line {
			return l[i].Line < l[j].Line
		}
		return l[i].Col < l[j].Col
	})
}
