package stricttoml

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// BuildIndex records, in one pass over data, the position of every key:
// keys of key/value pairs (dotted keys part by part), table headers, keys
// of inline tables, and the elements of arrays and arrays of tables,
// numbered. data should already have parsed; on text that is not TOML the
// index is simply left incomplete.
func BuildIndex(data []byte) Index {
	// About one key a line: sized up front, the map never grows.
	s := &scanner{data: data, line: 1, ix: make(Index, bytes.Count(data, []byte("\n"))+1), arrays: map[string]int{}}
	cur := ""
	for {
		s.skipSpace(true)
		if s.eof() {
			break
		}
		start := s.i
		if s.data[s.i] == '[' {
			cur = s.header()
		} else {
			s.keyValue(cur)
		}
		s.skipSpace(false)
		// Whatever is left on the line was not understood: skip it, and
		// make sure every round moves on.
		for !s.eof() && s.data[s.i] != '\n' {
			s.next()
		}
		if s.i == start && !s.eof() {
			s.next()
		}
	}
	return s.ix
}

type scanner struct {
	data            []byte
	i               int // next byte
	line, lineStart int // current line and the offset it starts at
	ix              Index
	arrays          map[string]int // numbered path of an array of tables -> elements so far
	parts           []keyPart      // key's, reused
}

func (s *scanner) eof() bool { return s.i >= len(s.data) }

func (s *scanner) pos() Position { return Position{Line: s.line, Col: s.i - s.lineStart + 1} }

func (s *scanner) next() {
	if s.data[s.i] == '\n' {
		s.line++
		s.lineStart = s.i + 1
	}
	s.i++
}

func (s *scanner) peek(prefix string) bool {
	return strings.HasPrefix(string(s.data[s.i:min(len(s.data), s.i+len(prefix))]), prefix)
}

// skipSpace skips blanks and comments, and newlines too when nl is set.
func (s *scanner) skipSpace(nl bool) {
	for !s.eof() {
		switch s.data[s.i] {
		case ' ', '\t', '\r':
		case '\n':
			if !nl {
				return
			}
		case '#':
			for !s.eof() && s.data[s.i] != '\n' {
				s.next()
			}
			continue
		default:
			return
		}
		s.next()
	}
}

func (s *scanner) setOnce(path string, p Position) {
	if _, ok := s.ix[path]; !ok {
		s.ix[path] = p
	}
}

type keyPart struct {
	bare []byte // a bare key, as written; else name
	name string
	pos  Position
}

// join appends k to path, as Join does, without making a string of a bare
// key first.
func (k keyPart) join(path string) string {
	switch {
	case k.bare == nil:
		return Join(path, k.name)
	case path == "":
		return string(k.bare)
	}
	return path + "." + string(k.bare)
}

// key reads a dotted key: bare, "basic" and 'literal' parts. The parts
// are s.parts, valid until the next call.
func (s *scanner) key() []keyPart {
	parts := s.parts[:0]
	defer func() { s.parts = parts }()
	for {
		s.skipSpace(false)
		if s.eof() {
			return parts
		}
		k := keyPart{pos: s.pos()}
		switch c := s.data[s.i]; {
		case c == '"':
			k.name = unescape(string(s.quoted('"', true)))
		case c == '\'':
			k.name = string(s.quoted('\'', false))
		case isBareByte(c):
			start := s.i
			for !s.eof() && isBareByte(s.data[s.i]) {
				s.i++
			}
			k.bare = s.data[start:s.i]
		default:
			return parts
		}
		parts = append(parts, k)
		s.skipSpace(false)
		if s.eof() || s.data[s.i] != '.' {
			return parts
		}
		s.i++
	}
}

// quoted reads a one-line string opened by q at s.i and returns what is
// between the quotes, escapes as written (a value's is only skipped).
func (s *scanner) quoted(q byte, escapes bool) []byte {
	s.i++
	start := s.i
	for !s.eof() && s.data[s.i] != q && s.data[s.i] != '\n' {
		if escapes && s.data[s.i] == '\\' && s.i+1 < len(s.data) && s.data[s.i+1] != '\n' {
			s.i++
		}
		s.i++
	}
	body := s.data[start:s.i]
	if !s.eof() && s.data[s.i] == q {
		s.i++
	}
	return body
}

// multiline skips a triple-quoted string (basic or literal) opened at s.i.
func (s *scanner) multiline(delim string, escapes bool) {
	s.i += 3
	for !s.eof() {
		if s.peek(delim) {
			s.i += 3
			// Up to two more quotes belong to the string.
			for n := 0; n < 2 && !s.eof() && s.data[s.i] == delim[0]; n++ {
				s.i++
			}
			return
		}
		if escapes && s.data[s.i] == '\\' && s.i+1 < len(s.data) {
			s.next()
		}
		s.next()
	}
}

// header reads a [table] or [[array.table]] header, indexes it, and
// returns the numbered path of the table it opens.
func (s *scanner) header() string {
	hpos := s.pos()
	s.i++
	array := !s.eof() && s.data[s.i] == '['
	if array {
		s.i++
	}
	parts := s.key()
	path := ""
	for i, k := range parts {
		path = k.join(path)
		last := i == len(parts)-1
		if last && array {
			n := s.arrays[path]
			s.arrays[path] = n + 1
			s.setOnce(path, hpos)
			path = Elem(path, n)
			s.ix[path] = hpos
			continue
		}
		if n, ok := s.arrays[path]; ok {
			path = Elem(path, n-1)
			continue
		}
		if last {
			s.ix[path] = hpos
		} else {
			s.setOnce(path, k.pos)
		}
	}
	for n := 0; n < 2 && !s.eof() && s.data[s.i] == ']'; n++ {
		s.i++
	}
	return path
}

// keyValue reads key = value under the table at base.
func (s *scanner) keyValue(base string) {
	parts := s.key()
	if len(parts) == 0 {
		return
	}
	path, last := base, len(parts)-1
	for _, k := range parts[:last] {
		path = k.join(path)
		s.setOnce(path, k.pos)
	}
	// The key itself is new: TOML refuses a key defined twice, and only a
	// file BurntSushi parsed has its index used.
	keyPos := parts[last].pos
	path = parts[last].join(path)
	s.ix[path] = keyPos
	s.skipSpace(false)
	if s.eof() || s.data[s.i] != '=' {
		return
	}
	s.i++
	s.skipSpace(false)
	s.value(path, keyPos)
}

// value skips the value at s.i, indexing the keys of inline tables and
// the elements of arrays (at keyPos, their array's key).
func (s *scanner) value(path string, keyPos Position) {
	if s.eof() {
		return
	}
	switch s.data[s.i] {
	case '"':
		if s.peek(`"""`) {
			s.multiline(`"""`, true)
		} else {
			s.quoted('"', true)
		}
	case '\'':
		if s.peek("'''") {
			s.multiline("'''", false)
		} else {
			s.quoted('\'', false)
		}
	case '[':
		s.i++
		for n := 0; ; n++ {
			s.skipSpace(true)
			if s.eof() || s.data[s.i] == ']' {
				break
			}
			start := s.i
			elem := Elem(path, n)
			s.setOnce(elem, keyPos)
			s.value(elem, keyPos)
			s.skipSpace(true)
			if !s.eof() && s.data[s.i] == ',' {
				s.i++
			} else if s.i == start {
				break
			}
		}
		if !s.eof() && s.data[s.i] == ']' {
			s.i++
		}
	case '{':
		s.i++
		for {
			s.skipSpace(true)
			if s.eof() || s.data[s.i] == '}' {
				break
			}
			start := s.i
			s.keyValue(path)
			s.skipSpace(true)
			if !s.eof() && s.data[s.i] == ',' {
				s.i++
			} else if s.i == start {
				break
			}
		}
		if !s.eof() && s.data[s.i] == '}' {
			s.i++
		}
	default:
		// A number, boolean or datetime (which may hold a space).
		for !s.eof() && strings.IndexByte(",]}#\n", s.data[s.i]) < 0 {
			s.i++
		}
	}
}

// unescape decodes the escapes of a basic string's body, as TOML does; a
// malformed escape is kept as written.
func unescape(body string) string {
	if strings.IndexByte(body, '\\') < 0 {
		return body
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' || i+1 >= len(body) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := body[i]; e {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case '"', '\\':
			b.WriteByte(e)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if i+1+n > len(body) {
				b.WriteString(body[i-1:])
				return b.String()
			}
			r, err := strconv.ParseUint(body[i+1:i+1+n], 16, 32)
			if err != nil || !utf8.ValidRune(rune(r)) {
				b.WriteString(body[i-1 : i+1])
				continue
			}
			b.WriteRune(rune(r))
			i += n
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return b.String()
}
