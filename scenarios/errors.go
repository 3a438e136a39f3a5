package scenarios

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a scenario file, at the key it concerns.
type Error struct {
	File      string
	Line, Col int
	Field     string // key path such as "probe[1].url"; empty for syntax errors
	Msg       string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Col, e.Field, e.Msg)
}

// ErrorList is every problem found in one file, sorted by position.
// Load and Parse return it as their error; use errors.As to get it.
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

func (l ErrorList) sort() {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Line != l[j].Line {
			return l[i].Line < l[j].Line
		}
		return l[i].Col < l[j].Col
	})
}

// report collects errors for one file and places them with the index.
type report struct {
	file string
	ix   Index
	errs ErrorList
	seen map[string]bool // one error per field: the first says enough
	bad  map[string]bool // fields whose value could not be decoded
}

func newReport(file string, ix Index) *report {
	return &report{file: file, ix: ix, seen: map[string]bool{}, bad: map[string]bool{}}
}

// add records msg for field, placed at the field's key or, when the key is
// absent, at the header of the nearest table that holds it (1:1 at the top).
func (r *report) add(field, format string, args ...any) {
	if r.seen[field] {
		return
	}
	r.seen[field] = true
	p := r.ix.lookup(field)
	r.errs = append(r.errs, &Error{File: r.file, Line: p.Line, Col: p.Col, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// underBad reports whether field or one of its parents failed to decode, so
// follow-on errors about it would only repeat the first one.
func (r *report) underBad(field string) bool {
	for f := field; f != ""; f = parentPath(f) {
		if r.bad[f] {
			return true
		}
	}
	return false
}

func (r *report) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	r.errs.sort()
	return r.errs
}
