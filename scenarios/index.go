package scenarios

import (
	"bytes"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// KeyIndex maps every key path of a TOML document ("api.listen",
// "fault[0].params.signal") to where it stands, for any strictly decoded
// TOML file that wants file:line:col errors (scenarios, daemon config).
func KeyIndex(data []byte) Index { return buildIndex(data) }

// Lookup returns where field stands or, when it is not in the file, where
// its nearest enclosing table starts; 1:1 when nothing encloses it.
func (ix Index) Lookup(field string) Position { return ix.lookup(field) }

// lookup returns where field stands or, when it is not in the file, where
// its nearest enclosing table starts; 1:1 when nothing encloses it.
func (ix Index) lookup(field string) Position {
	for f := field; f != ""; f = parentPath(f) {
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

// joinKey appends one key part to a path, quoting it the way TOML would
// when it is not a bare key.
func joinKey(path, part string) string {
	if !isBare(part) {
		part = strconv.Quote(part)
	}
	if path == "" {
		return part
	}
	return path + "." + part
}

func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func isBare(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// splitPath cuts a path into its parts: keys (quoted as written) and [n]
// indexes. It is the inverse of joinKey and indexPath.
func splitPath(path string) []string {
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

// parentPath drops the last part of a path: "probe[1].url" -> "probe[1]" ->
// "probe" -> "".
func parentPath(path string) string {
	parts := splitPath(path)
	if len(parts) <= 1 {
		return ""
	}
	var b strings.Builder
	for i, p := range parts[:len(parts)-1] {
		if i > 0 && p[0] != '[' {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// lastKey is the last key part of path, unquoted.
func lastKey(path string) string {
	parts := splitPath(path)
	if len(parts) == 0 {
		return ""
	}
	p := parts[len(parts)-1]
	if u, err := strconv.Unquote(p); err == nil {
		return u
	}
	return p
}

// expand turns a key as BurntSushi names it (array elements not numbered,
// so "fault.params" stands for every fault's params) into the numbered
// paths present in the index, under base.
func (ix Index) expand(base string, key []string) []string {
	cands := []string{base}
	for _, part := range key {
		var next []string
		for _, c := range cands {
			p := joinKey(c, part)
			if !ix.has(p) {
				continue
			}
			if ix.has(indexPath(p, 0)) {
				for n := 0; ix.has(indexPath(p, n)); n++ {
					next = append(next, indexPath(p, n))
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

// buildIndex records the position of every key in data, numbering the
// elements of arrays of tables and of arrays. BurntSushi/toml does not
// expose key positions, so this walks go-toml's AST. data must already have
// parsed; on a parser error the index is simply left incomplete.
func buildIndex(data []byte) Index {
	b := &indexer{ix: Index{}, arrays: map[string]int{}, data: data}
	var p unstable.Parser
	p.Reset(data)
	cur := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			cur = b.header(e)
		case unstable.KeyValue:
			b.keyValue(cur, e)
		}
	}
	return b.ix
}

type indexer struct {
	ix     Index
	arrays map[string]int // numbered path of an array of tables -> elements so far
	data   []byte
}

func (b *indexer) pos(n *unstable.Node) Position {
	return offsetPos(b.data, int(n.Raw.Offset))
}

func offsetPos(data []byte, off int) Position {
	off = min(max(off, 0), len(data))
	line := bytes.Count(data[:off], []byte("\n")) + 1
	col := off - (bytes.LastIndexByte(data[:off], '\n') + 1) + 1
	return Position{Line: line, Col: col}
}

func (b *indexer) setOnce(path string, p Position) {
	if _, ok := b.ix[path]; !ok {
		b.ix[path] = p
	}
}

// header indexes a [table] or [[array.table]] header and returns the
// numbered path of the table it opens.
func (b *indexer) header(e *unstable.Node) string {
	var parts []*unstable.Node
	for it := e.Key(); it.Next(); {
		parts = append(parts, it.Node())
	}
	if len(parts) == 0 {
		return ""
	}
	// The header's position is its opening bracket.
	start := int(parts[0].Raw.Offset)
	for i := start - 1; i >= 0 && bytes.IndexByte([]byte("[ \t"), b.data[i]) >= 0; i-- {
		if b.data[i] == '[' {
			start = i
		}
	}
	hpos := offsetPos(b.data, start)
	path := ""
	for i, k := range parts {
		path = joinKey(path, string(k.Data))
		last := i == len(parts)-1
		if last && e.Kind == unstable.ArrayTable {
			n := b.arrays[path]
			b.arrays[path] = n + 1
			b.setOnce(path, hpos)
			path = indexPath(path, n)
			b.ix[path] = hpos
			continue
		}
		if n, ok := b.arrays[path]; ok {
			path = indexPath(path, n-1)
			continue
		}
		if last {
			b.ix[path] = hpos
		} else {
			b.setOnce(path, b.pos(k))
		}
	}
	return path
}

func (b *indexer) keyValue(base string, e *unstable.Node) {
	path := base
	var keyPos Position
	for it := e.Key(); it.Next(); {
		k := it.Node()
		path = joinKey(path, string(k.Data))
		keyPos = b.pos(k)
		b.setOnce(path, keyPos)
	}
	b.value(path, e.Value(), keyPos)
}

func (b *indexer) value(path string, v *unstable.Node, keyPos Position) {
	switch v.Kind {
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				b.keyValue(path, c)
			}
		}
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			p := indexPath(path, i)
			b.setOnce(p, keyPos)
			b.value(p, c, keyPos)
			i++
		}
	}
}
