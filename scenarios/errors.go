package scenarios

import (
	"fmt"

	"github.com/chaosctl/chaosctl/internal/stricttoml"
)

// Error is one problem in a scenario file, at the key it concerns; its
// text is `file:line:col: field: message`.
type Error = stricttoml.Error

// ErrorList is every problem found in one file, sorted by position.
// Load and Parse return it as their error; use errors.As to get it.
type ErrorList = stricttoml.ErrorList

// report collects errors for one file and places them with the index.
type report struct {
	doc  *stricttoml.Doc
	errs ErrorList
	seen map[string]bool // one error per field: the first says enough
	bad  map[string]bool // fields whose value could not be decoded
}

func newReport(doc *stricttoml.Doc) *report {
	return &report{doc: doc, seen: map[string]bool{}, bad: map[string]bool{}}
}

// add records msg for field, placed at the field's key or, when the key is
// absent, at the header of the nearest table that holds it (1:1 at the top).
func (r *report) add(field, format string, args ...any) {
	if r.seen[field] {
		return
	}
	r.seen[field] = true
	r.errs = append(r.errs, r.doc.At(field, fmt.Sprintf(format, args...)))
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
	r.errs.Sort()
	return r.errs
}
