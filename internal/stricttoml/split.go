package stricttoml

import (
	"bytes"
	"runtime"
	"sync"

	"github.com/BurntSushi/toml"
)

// A big file is parsed in pieces, one per core, by BurntSushi each: a
// scenario of 40,000 probes is 40,000 [[probe]] tables, and BurntSushi's
// parse of it is most of the time validation takes. The pieces are joined
// only where that gives what one parse of the whole file gives:
//
//   - Each piece but the first starts at a line that opens with '[', a
//     table header, and each must parse alone. A line that only looks
//     like a header (inside a multi-line string or array) leaves the piece
//     before it with that string or array open, and that piece does not
//     parse.
//   - A header names its table from the top, so pieces can refer to each
//     other only through a top-level name that both use. Two pieces may
//     share a name only when it is an array of tables in both, which only
//     [[name]] headers make (an inline array is []any, a table is a map):
//     the whole file's array is then the pieces' arrays end to end.
//
// Otherwise the file is parsed whole, so its errors are BurntSushi's own,
// placed in the whole file.

// splitMin is the smallest file parsed in pieces: below it, one parse is
// quick enough that the goroutines and the join are not worth it.
var splitMin = 256 << 10

// maxPieces bounds the pieces, whatever the cores.
const maxPieces = 8

// parseTop parses data into its top-level table, in pieces when it is
// big and there is more than one core.
func parseTop(data []byte) (map[string]any, error) {
	if len(data) >= splitMin {
		if cuts := splitPoints(data, min(runtime.GOMAXPROCS(0), maxPieces)); cuts != nil {
			if top, ok := parsePieces(data, cuts); ok {
				return top, nil
			}
		}
	}
	var top map[string]any
	_, err := toml.Decode(string(data), &top)
	return top, err
}

// parsePieces parses data[cuts[i]:cuts[i+1]] (the last to the end) at
// once and joins them, or says it cannot.
func parsePieces(data []byte, cuts []int) (map[string]any, bool) {
	tops := make([]map[string]any, len(cuts))
	errs := make([]error, len(cuts))
	var wg sync.WaitGroup
	for i, from := range cuts {
		to := len(data)
		if i+1 < len(cuts) {
			to = cuts[i+1]
		}
		wg.Go(func() { _, errs[i] = toml.Decode(string(data[from:to]), &tops[i]) })
	}
	wg.Wait()
	top := tops[0]
	if errs[0] != nil || top == nil {
		return nil, false
	}
	for i, t := range tops[1:] {
		if errs[i+1] != nil {
			return nil, false
		}
		for k, v := range t {
			have, dup := top[k]
			if !dup {
				top[k] = v
				continue
			}
			// Two pieces may share a name only as arrays of tables.
			a, ok1 := have.([]map[string]any)
			b, ok2 := v.([]map[string]any)
			if !ok1 || !ok2 {
				return nil, false
			}
			top[k] = append(a, b...)
		}
	}
	return top, true
}

// splitPoints returns where to cut data into up to n pieces of about the
// same size (the first cut is 0): at the first [[name]] line (one key
// part, an element of a top-level array of tables) after each n-th of the
// file, so that the pieces share at most such arrays. nil: nowhere to cut.
func splitPoints(data []byte, n int) []int {
	if n < 2 {
		return nil
	}
	cuts := []int{0}
	for i := 1; i < n; i++ {
		at := arrayHeaderAfter(data, max(i*len(data)/n, cuts[len(cuts)-1]+1))
		if at < 0 {
			break
		}
		cuts = append(cuts, at)
	}
	if len(cuts) < 2 {
		return nil
	}
	return cuts
}

// arrayHeaderAfter is the offset of the first line at or after from that
// is a [[name]] header, or -1.
func arrayHeaderAfter(data []byte, from int) int {
	for from < len(data) {
		j := bytes.Index(data[from:], []byte("\n[["))
		if j < 0 {
			return -1
		}
		at := from + j + 1
		s := &scanner{data: data, i: at + 2, line: 1}
		if len(s.key()) == 1 && s.peek("]]") {
			return at
		}
		from = at + 1
	}
	return -1
}
