package stricttoml

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
)

// Doc is one TOML file, parsed once by BurntSushi: its top-level table
// with every value already typed (string, int64, float64, bool, time.Time,
// []any, []map[string]any, map[string]any), and the position of every key.
type Doc struct {
	File string
	Top  map[string]any
	Pos  *Positions // built when a position is first asked for
}

// Parse parses data (named file in errors). A syntax error comes back as
// an *Error at the position BurntSushi gives.
func Parse(file string, data []byte) (*Doc, error) {
	d := &Doc{File: file, Pos: NewPositions(data)}
	// Decoded into a map of any, BurntSushi hands over its parse tree as
	// it is: the Decoder below places the values into fields, once each.
	// A big file is parsed in pieces at once (split.go).
	top, err := parseTop(data)
	d.Top = top
	if err != nil {
		e := &Error{File: file, Line: 1, Col: 1, Msg: err.Error(), err: err}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			e.Msg = pe.Message
			e.Line, e.Col = max(pe.Position.Line, 1), max(pe.Position.Col, 1)
		}
		return nil, e
	}
	return d, nil
}

// At is an *Error about field, placed at its key or, when the key is not in
// the file, at the nearest table that holds it.
func (d *Doc) At(field, msg string) *Error {
	p := d.Pos.Lookup(field)
	return &Error{File: d.File, Line: p.Line, Col: p.Col, Field: field, Msg: msg}
}

// UnknownKeyError is a key that names no field of the table's struct.
type UnknownKeyError struct {
	Key   string   // as written
	Known []string // the struct's keys, sorted
	// Folded is the field's key when Key matches it regardless of case
	// (BurntSushi's own fallback, which strict decoding refuses).
	Folded string
}

func (e *UnknownKeyError) Error() string { return "unknown key" }

// TypeError is a value whose TOML type cannot go into its field. Want and
// Got are the innermost part that does not fit: an element of an array,
// a value in a table.
type TypeError struct {
	Type  reflect.Type // Go type of the field
	Value any          // the TOML value, as BurntSushi parsed it
	Want  reflect.Type
	Got   any
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("want %s, got %T", e.Want, e.Got)
}

// ValueError is a value of the right type that does not go into its field:
// out of range, or refused by the field's UnmarshalText. Msg is worded as
// BurntSushi words it.
type ValueError struct{ Msg string }

func (e *ValueError) Error() string { return e.Msg }

// Decoder fills Go values from a Doc one key at a time, so that every
// unknown key and every mistyped value is reported, not just the first.
// Struct fields are matched by their toml tag, exactly. Values go into
// their fields by BurntSushi's rules (toml.Decode's), from the values its
// parse gave; strict decoding adds the refusals.
type Decoder struct {
	*Doc
	// Report receives each problem with the path it concerns: an
	// *UnknownKeyError, *TypeError or *ValueError. Required.
	Report func(path string, err error)
	// Fold decodes a key that matches a field only regardless of case into
	// that field (reporting it all the same), so the keys under it are
	// checked too.
	Fold bool
	// TextFromString refuses values other than strings for fields that
	// implement encoding.TextUnmarshaler, which BurntSushi would otherwise
	// format as text and hand over.
	TextFromString bool
	// Custom, when set, may decode a value itself: it returns false to
	// leave it to the Decoder.
	Custom func(v any, dst reflect.Value, path string) bool
	// Present, when set, gets every key path found in the file and matched
	// to a field.
	Present map[string]bool

	st *state // shared with the Decoders Derive makes
}

// state is what a Decoder learns on the way, for Undecoded.
type state struct {
	whole   map[string]bool // paths decoded whole into a type that holds any table
	unknown []unknownKey    // keys Fields reported, whose own keys Undecoded lists
}

type unknownKey struct {
	path string
	v    any
}

func (d *Decoder) state() *state {
	if d.st == nil {
		d.st = &state{}
	}
	return d.st
}

// Derive returns a copy of d to be configured differently (another
// Report, no Custom) that shares what d has decoded, for Undecoded.
func (d *Decoder) Derive() *Decoder {
	d.state()
	c := *d
	return &c
}

// Struct decodes the TOML table v into the struct dst points to.
func (d *Decoder) Struct(v any, dst any, path string) {
	d.table(v, reflect.ValueOf(dst).Elem(), path)
}

// Table returns v as a table; a value that is not a table is reported as a
// *TypeError wanting a table of want's type.
func (d *Decoder) Table(v any, want reflect.Type, path string) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		d.Report(path, &TypeError{Type: want, Value: v, Want: want, Got: v})
	}
	return m, ok
}

// Array returns the elements of v, an array or an array of tables; a
// value that is not an array is reported as a *TypeError wanting want.
func (d *Decoder) Array(v any, want reflect.Type, path string) ([]any, bool) {
	switch a := v.(type) {
	case []any:
		return a, true
	case []map[string]any:
		elems := make([]any, len(a))
		for i, t := range a {
			elems[i] = t
		}
		return elems, true
	}
	d.Report(path, &TypeError{Type: want, Value: v, Want: want, Got: v})
	return nil, false
}

func (d *Decoder) table(v any, dst reflect.Value, path string) {
	if m, ok := d.Table(v, dst.Type(), path); ok {
		d.Fields(m, dst, path)
	}
}

// Fields decodes each key of m into the field of the struct dst that it
// names, and reports the keys that name none.
func (d *Decoder) Fields(m map[string]any, dst reflect.Value, path string) {
	rest := d.Take(m, dst, path)
	if len(rest) == 0 {
		return
	}
	st, known := d.state(), fieldsOf(dst.Type()).keys
	for key, v := range rest {
		kp := Join(path, key)
		d.Report(kp, &UnknownKeyError{Key: key, Known: known})
		st.unknown = append(st.unknown, unknownKey{kp, v})
	}
}

// Take decodes the keys of m that name a field of the struct dst, and
// returns the others (nil when there are none) for the caller to place.
func (d *Decoder) Take(m map[string]any, dst reflect.Value, path string) map[string]any {
	fs := fieldsOf(dst.Type())
	var rest map[string]any
	for key, v := range m {
		i, ok := fs.index[key]
		if !ok && d.Fold {
			if k, folded := fs.fold(key); folded {
				kp := Join(path, key)
				d.Report(kp, &UnknownKeyError{Key: key, Known: fs.keys, Folded: k})
				d.Value(v, dst.Field(fs.index[k]), kp)
				continue
			}
		}
		if !ok {
			if rest == nil {
				rest = make(map[string]any, len(m))
			}
			rest[key] = v
			continue
		}
		var kp string
		if d.Present != nil {
			kp = Join(path, key)
			d.Present[kp] = true
		}
		f := dst.Field(i)
		if d.quick(v, f) {
			continue
		}
		if kp == "" {
			kp = Join(path, key)
		}
		d.Value(v, f, kp)
	}
	return rest
}

// quick puts v into dst when dst is a plain value (no table to walk, no any
// to keep track of) and v fits, without naming its path: most values do,
// and only a problem needs the path. It returns false to leave dst to
// Value, which reports.
func (d *Decoder) quick(v any, dst reflect.Value) bool {
	if d.Custom != nil {
		return false
	}
	fs := fieldsOf(dst.Type())
	if !fs.plain || d.TextFromString && fs.text && !isString(v) {
		return false
	}
	return unify(v, dst) == nil
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	tomlUnmarshaler = reflect.TypeFor[toml.Unmarshaler]()
)

func isText(t reflect.Type) bool { return reflect.PointerTo(t).Implements(textUnmarshaler) }

// Value decodes v into dst: tables and arrays of tables key by key, other
// values whole once their TOML type is known to fit.
func (d *Decoder) Value(v any, dst reflect.Value, path string) {
	t := dst.Type()
	switch {
	case d.Custom != nil && d.Custom(v, dst, path):
	case fieldsOf(t).leaf:
		d.leaf(v, dst, path)
	case t.Kind() == reflect.Struct:
		d.table(v, dst, path)
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && !fieldsOf(t.Elem()).leaf:
		dst.Set(reflect.New(t.Elem()))
		d.table(v, dst.Elem(), path)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct && !fieldsOf(t.Elem()).leaf:
		elems, ok := d.Array(v, t, path)
		if !ok {
			return
		}
		dst.Set(reflect.MakeSlice(t, len(elems), len(elems)))
		for i, e := range elems {
			d.table(e, dst.Index(i), Elem(path, i))
		}
	default:
		d.leaf(v, dst, path)
	}
}

// leaf puts v into dst whole. Only when that fails is the value looked at
// again, to tell a type mismatch from a value out of range or refused.
func (d *Decoder) leaf(v any, dst reflect.Value, path string) {
	t := dst.Type()
	if d.TextFromString && isText(t) && !isString(v) {
		d.Report(path, &TypeError{Type: t, Value: v, Want: t, Got: v})
		return
	}
	err := unify(v, dst)
	if err == nil {
		if holdsAny(t) {
			// The keys under an any are the value's, not unknown.
			st := d.state()
			if st.whole == nil {
				st.whole = map[string]bool{}
			}
			st.whole[path] = true
		}
		return
	}
	dst.Set(reflect.Zero(t))
	var ve *ValueError
	if errors.As(err, &ve) {
		d.Report(path, ve)
		return
	}
	if want, got, ok := d.fits(t, v); !ok {
		d.Report(path, &TypeError{Type: t, Value: v, Want: want, Got: got})
		return
	}
	d.Report(path, &ValueError{Msg: err.Error()})
}

// errMismatch is a TOML type that does not go into the Go type; leaf
// finds which part with fits.
var errMismatch = errors.New("incompatible types")

var durationType = reflect.TypeFor[time.Duration]()

// The largest integers a float holds exactly, as BurntSushi checks them.
const (
	maxSafeFloat32Int = 16777215
	maxSafeFloat64Int = int64(9007199254740991)
)

// unify puts the parsed TOML value v into rv by BurntSushi's rules
// (MetaData.unify): an UnmarshalTOML or UnmarshalText method first, then
// by kind, pointers allocated on the way. Its refusals are *ValueError
// (worded as BurntSushi's) or errMismatch.
func unify(v any, rv reflect.Value) error {
	t := rv.Type()
	if t.Kind() == reflect.Pointer {
		if rv.IsNil() {
			rv.Set(reflect.New(t.Elem()))
		}
		return unify(v, rv.Elem())
	}
	fs := fieldsOf(t)
	switch {
	case fs.unmarshaler:
		if err := rv.Addr().Interface().(toml.Unmarshaler).UnmarshalTOML(v); err != nil {
			return &ValueError{Msg: err.Error()}
		}
		return nil
	case fs.text:
		return unifyText(v, rv.Addr().Interface().(encoding.TextUnmarshaler))
	}
	switch k := t.Kind(); {
	case k == reflect.String:
		s, ok := v.(string)
		if !ok {
			return errMismatch
		}
		rv.SetString(s)
	case k == reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return errMismatch
		}
		rv.SetBool(b)
	case k >= reflect.Int && k <= reflect.Uint64:
		return unifyInt(v, rv)
	case k == reflect.Float32 || k == reflect.Float64:
		return unifyFloat(v, rv)
	case k == reflect.Interface:
		if t.NumMethod() > 0 {
			return errMismatch
		}
		if v != nil {
			rv.Set(reflect.ValueOf(v))
		}
	case k == reflect.Slice || k == reflect.Array:
		return unifySlice(v, rv)
	case k == reflect.Map:
		return unifyMap(v, rv)
	case k == reflect.Struct:
		// Under a map or a slice of values: the Decoder takes struct
		// fields and arrays of tables key by key, before this.
		m, ok := v.(map[string]any)
		if !ok {
			return errMismatch
		}
		for key, e := range m {
			if i, ok := fs.index[key]; ok {
				if err := unify(e, rv.Field(i)); err != nil {
					return err
				}
			}
		}
	default:
		return errMismatch
	}
	return nil
}

func unifyInt(v any, rv reflect.Value) error {
	k := rv.Kind()
	if rv.Type() == durationType {
		if s, ok := v.(string); ok {
			d, err := time.ParseDuration(s)
			if err != nil {
				return &ValueError{Msg: fmt.Sprintf("invalid duration: %q", s)}
			}
			rv.SetInt(int64(d))
			return nil
		}
	}
	n, ok := v.(int64)
	if !ok {
		return errMismatch
	}
	if k >= reflect.Uint {
		// BurntSushi lets a negative number wrap into a uint64; not here.
		if n < 0 || rv.OverflowUint(uint64(n)) {
			return outOfRange(n, k)
		}
		rv.SetUint(uint64(n))
		return nil
	}
	if rv.OverflowInt(n) {
		return outOfRange(n, k)
	}
	rv.SetInt(n)
	return nil
}

func outOfRange(n any, k reflect.Kind) error {
	return &ValueError{Msg: fmt.Sprintf("%v is out of range for %s", n, k)}
}

func unifyFloat(v any, rv reflect.Value) error {
	k := rv.Kind()
	switch n := v.(type) {
	case float64:
		if k == reflect.Float32 && (n < -math.MaxFloat32 || n > math.MaxFloat32) {
			return outOfRange(n, k)
		}
		rv.SetFloat(n)
	case int64:
		limit := maxSafeFloat64Int
		if k == reflect.Float32 {
			limit = maxSafeFloat32Int
		}
		if n < -limit || n > limit {
			return &ValueError{Msg: fmt.Sprintf("%v is out of the safe %s range", n, k)}
		}
		rv.SetFloat(float64(n))
	default:
		return errMismatch
	}
	return nil
}

// unifyText hands UnmarshalText the value as text, as BurntSushi does.
func unifyText(v any, u encoding.TextUnmarshaler) error {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case bool:
		s = fmt.Sprintf("%v", v)
	case int64:
		s = fmt.Sprintf("%d", v)
	case float64:
		s = fmt.Sprintf("%f", v)
	case encoding.TextMarshaler: // a datetime
		b, err := v.MarshalText()
		if err != nil {
			return &ValueError{Msg: err.Error()}
		}
		s = string(b)
	default:
		return errMismatch
	}
	if err := u.UnmarshalText([]byte(s)); err != nil {
		return &ValueError{Msg: err.Error()}
	}
	return nil
}

func unifySlice(v any, rv reflect.Value) error {
	var n int
	var at func(int) any
	switch a := v.(type) {
	case []any:
		n, at = len(a), func(i int) any { return a[i] }
	case []map[string]any:
		n, at = len(a), func(i int) any { return a[i] }
	case nil:
		return nil
	default:
		return errMismatch
	}
	if rv.Kind() == reflect.Array {
		if n != rv.Len() {
			return &ValueError{Msg: fmt.Sprintf("expected array length %d; got TOML array of length %d", rv.Len(), n)}
		}
	} else {
		rv.Set(reflect.MakeSlice(rv.Type(), n, n))
	}
	for i := range n {
		if err := unify(at(i), rv.Index(i)); err != nil {
			return err
		}
	}
	return nil
}

func unifyMap(v any, rv reflect.Value) error {
	t := rv.Type()
	if k := t.Key().Kind(); k != reflect.String && k != reflect.Interface {
		return &ValueError{Msg: fmt.Sprintf("cannot decode to a map with non-string key type (%s in %q)", k, t)}
	}
	m, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			return nil
		}
		return errMismatch
	}
	if rv.IsNil() {
		rv.Set(reflect.MakeMapWithSize(t, len(m)))
	}
	for k, e := range m {
		ev := reflect.New(t.Elem()).Elem()
		if err := unify(e, ev); err != nil {
			return err
		}
		kv := reflect.New(t.Key()).Elem()
		kv.Set(reflect.ValueOf(k))
		rv.SetMapIndex(kv, ev)
	}
	return nil
}

// holdsAny reports whether a value of type t can hold an any, under which
// a table's keys are the value's own.
func holdsAny(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Map, reflect.Slice, reflect.Array, reflect.Pointer:
		return holdsAny(t.Elem())
	}
	return false
}

func isString(v any) bool {
	_, ok := v.(string)
	return ok
}

// fits reports whether v can go into a value of type t by its TOML type
// and, when it cannot, the innermost type and value that do not fit.
func (d *Decoder) fits(t reflect.Type, raw any) (reflect.Type, any, bool) {
	if raw == nil {
		return nil, nil, true
	}
	if isText(t) {
		switch raw.(type) {
		case string:
			return nil, nil, true
		case int64, float64, bool, time.Time:
			if !d.TextFromString {
				return nil, nil, true
			}
		}
		return t, raw, false
	}
	ok := false
	switch t.Kind() {
	case reflect.Pointer:
		return d.fits(t.Elem(), raw)
	case reflect.Interface:
		ok = t.NumMethod() == 0
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		_, ok = raw.(int64)
		if _, s := raw.(string); s && t == durationType {
			ok = true
		}
	case reflect.Float32, reflect.Float64:
		switch raw.(type) {
		case float64, int64:
			ok = true
		}
	case reflect.String:
		_, ok = raw.(string)
	case reflect.Bool:
		_, ok = raw.(bool)
	case reflect.Slice, reflect.Array:
		switch v := raw.(type) {
		case []any:
			for _, e := range v {
				if want, got, ok := d.fits(t.Elem(), e); !ok {
					return want, got, false
				}
			}
			ok = true
		case []map[string]any:
			for _, e := range v {
				if want, got, ok := d.fits(t.Elem(), e); !ok {
					return want, got, false
				}
			}
			ok = true
		}
	case reflect.Map:
		if m, isMap := raw.(map[string]any); isMap {
			for _, e := range m {
				if want, got, ok := d.fits(t.Elem(), e); !ok {
					return want, got, false
				}
			}
			ok = true
		}
	case reflect.Struct:
		m, isMap := raw.(map[string]any)
		if isMap {
			fs := fieldsOf(t)
			for k, e := range m {
				if i, known := fs.index[k]; known {
					if want, got, ok := d.fits(t.Field(i).Type, e); !ok {
						return want, got, false
					}
				}
			}
			ok = true
		}
	}
	if !ok {
		return t, raw, false
	}
	return nil, nil, true
}

// Undecoded reports as unknown the keys under each key Fields reported:
// skip is asked about every key's path and each of its parents, to say
// what is already accounted for. Keys under a value decoded whole into an
// any are the value's, not unknown.
func (d *Decoder) Undecoded(skip func(path string) bool) {
	st := d.state()
	whole := func(p string) bool { return st.whole[p] }
	for _, u := range st.unknown {
		walkKeys(u.v, u.path, func(p, key string) {
			if !under(p, skip) && !under(p, whole) {
				d.Report(p, &UnknownKeyError{Key: key})
			}
		})
	}
}

// walkKeys calls f with the path and key of every key under v, in order.
func walkKeys(v any, path string, f func(path, key string)) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := Join(path, k)
			f(p, k)
			walkKeys(v[k], p, f)
		}
	case []map[string]any:
		for i, t := range v {
			walkKeys(t, Elem(path, i), f)
		}
	case []any:
		for i, e := range v {
			walkKeys(e, Elem(path, i), f)
		}
	}
}

func under(path string, skip func(string) bool) bool {
	for f := path; f != ""; f = Parent(f) {
		if skip(f) {
			return true
		}
	}
	return false
}

// fields is what strict decoding needs of a Go type: for a struct, its
// keys; for any type, how BurntSushi would take a value into it.
type fields struct {
	index map[string]int // key -> field index
	keys  []string       // sorted

	text        bool // *T implements encoding.TextUnmarshaler
	unmarshaler bool // *T implements toml.Unmarshaler
	leaf        bool // decoded whole by its own method (text or unmarshaler)
	plain       bool // decoded whole, no table walked nor any kept: quick takes it
}

// fold returns the field key that key matches regardless of case.
func (fs *fields) fold(key string) (string, bool) {
	for _, k := range fs.keys {
		if strings.EqualFold(k, key) {
			return k, true
		}
	}
	return "", false
}

var fieldCache sync.Map // reflect.Type -> *fields

func fieldsOf(t reflect.Type) *fields {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fields)
	}
	pt := reflect.PointerTo(t)
	fs := &fields{text: pt.Implements(textUnmarshaler), unmarshaler: pt.Implements(tomlUnmarshaler)}
	fs.leaf = fs.text || fs.unmarshaler
	switch k := t.Kind(); {
	case fs.leaf:
		fs.plain = true
	case k == reflect.Struct,
		(k == reflect.Pointer || k == reflect.Slice) && t.Elem().Kind() == reflect.Struct && !fieldsOf(t.Elem()).leaf:
		// Value walks their tables.
	default:
		fs.plain = !holdsAny(t)
	}
	if t.Kind() == reflect.Struct {
		fs.index = map[string]int{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fs.index[name] = i
			fs.keys = append(fs.keys, name)
		}
		slices.Sort(fs.keys)
	}
	fieldCache.Store(t, fs)
	return fs
}

// Keys lists the keys struct type t takes, sorted.
func Keys(t reflect.Type) []string { return fieldsOf(t).keys }

// FieldIndex is the index of the field of struct type t that key names.
func FieldIndex(t reflect.Type, key string) (int, bool) {
	i, ok := fieldsOf(t).index[key]
	return i, ok
}
