package stricttoml

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
)

// Doc is one TOML file, parsed once: its top-level table as primitives,
// BurntSushi's metadata, and the position of every key.
type Doc struct {
	File  string
	MD    toml.MetaData
	Top   map[string]toml.Primitive
	Index Index
}

// Parse parses data (named file in errors). A syntax error comes back as
// an *Error at the position BurntSushi gives.
func Parse(file string, data []byte) (*Doc, error) {
	d := &Doc{File: file}
	// The index needs only the text: build it beside BurntSushi's parse.
	ix := make(chan Index, 1)
	go func() { ix <- BuildIndex(data) }()
	md, err := toml.Decode(string(data), &d.Top)
	d.MD, d.Index = md, <-ix
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
	p := d.Index.Lookup(field)
	return &Error{File: d.File, Line: p.Line, Col: p.Col, Field: field, Msg: msg}
}

// Raw is the value of p as BurntSushi parsed it: string, int64, float64,
// bool, time.Time, []any, []map[string]any or map[string]any.
func (d *Doc) Raw(p toml.Primitive) any {
	var v any
	_ = d.MD.PrimitiveDecode(p, &v) // decoding into any cannot fail
	return v
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
	Value any          // the TOML value, as Raw returns it
	Want  reflect.Type
	Got   any
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("want %s, got %T", e.Want, e.Got)
}

// ValueError is a value of the right type that BurntSushi could not
// decode: out of range, or refused by the field's UnmarshalText.
type ValueError struct{ Msg string }

func (e *ValueError) Error() string { return e.Msg }

// Decoder fills Go values from a Doc one key at a time, so that every
// unknown key and every mistyped value is reported, not just the first.
// Struct fields are matched by their toml tag, exactly.
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
	// Custom, when set, may decode a field itself: it returns false to
	// leave the field to the Decoder.
	Custom func(p toml.Primitive, dst reflect.Value, path string) bool
	// Present is every key path found in the file and matched to a field.
	Present map[string]bool

	whole map[string]bool // paths decoded whole into a type that holds any table
}

// Struct decodes the TOML table p into the struct dst points to.
func (d *Decoder) Struct(p toml.Primitive, dst any, path string) {
	d.table(p, reflect.ValueOf(dst).Elem(), path)
}

// Table decodes p as a table of primitives; a value that is not a table is
// reported as a *TypeError wanting a table of want's type.
func (d *Decoder) Table(p toml.Primitive, want reflect.Type, path string) (map[string]toml.Primitive, bool) {
	var m map[string]toml.Primitive
	if err := d.MD.PrimitiveDecode(p, &m); err != nil || m == nil {
		raw := d.Raw(p)
		d.Report(path, &TypeError{Type: want, Value: raw, Want: want, Got: raw})
		return nil, false
	}
	return m, true
}

// Array decodes p as an array of primitives; a value that is not an array
// is reported as a *TypeError wanting want.
func (d *Decoder) Array(p toml.Primitive, want reflect.Type, path string) ([]toml.Primitive, bool) {
	var elems []toml.Primitive
	if err := d.MD.PrimitiveDecode(p, &elems); err != nil {
		raw := d.Raw(p)
		d.Report(path, &TypeError{Type: want, Value: raw, Want: want, Got: raw})
		return nil, false
	}
	return elems, true
}

func isTable(raw any) bool {
	_, ok := raw.(map[string]any)
	return ok
}

func (d *Decoder) table(p toml.Primitive, dst reflect.Value, path string) {
	if m, ok := d.Table(p, dst.Type(), path); ok {
		d.Fields(m, dst, path)
	}
}

// Fields decodes each key of m into the field of the struct dst that it
// names, and reports the keys that name none.
func (d *Decoder) Fields(m map[string]toml.Primitive, dst reflect.Value, path string) {
	for key := range d.Take(m, dst, path) {
		d.Report(Join(path, key), &UnknownKeyError{Key: key, Known: fieldsOf(dst.Type()).keys})
	}
}

// Take decodes the keys of m that name a field of the struct dst, and
// returns the others (nil when there are none) for the caller to place.
func (d *Decoder) Take(m map[string]toml.Primitive, dst reflect.Value, path string) map[string]toml.Primitive {
	fs := fieldsOf(dst.Type())
	var rest map[string]toml.Primitive
	for key, p := range m {
		kp := Join(path, key)
		i, ok := fs.index[key]
		if !ok && d.Fold {
			if k, folded := fs.fold(key); folded {
				d.Report(kp, &UnknownKeyError{Key: key, Known: fs.keys, Folded: k})
				d.Value(p, dst.Field(fs.index[k]), kp)
				continue
			}
		}
		if !ok {
			if rest == nil {
				rest = map[string]toml.Primitive{}
			}
			rest[key] = p
			continue
		}
		if d.Present != nil {
			d.Present[kp] = true
		}
		d.Value(p, dst.Field(i), kp)
	}
	return rest
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func isText(t reflect.Type) bool { return reflect.PointerTo(t).Implements(textUnmarshaler) }

// Value decodes p into dst: tables and arrays of tables key by key, other
// values whole by BurntSushi once their TOML type is known to fit.
func (d *Decoder) Value(p toml.Primitive, dst reflect.Value, path string) {
	t := dst.Type()
	switch {
	case d.Custom != nil && d.Custom(p, dst, path):
	case isText(t):
		d.leaf(p, dst, path)
	case t.Kind() == reflect.Struct:
		d.table(p, dst, path)
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && !isText(t.Elem()):
		dst.Set(reflect.New(t.Elem()))
		d.table(p, dst.Elem(), path)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct && !isText(t.Elem()):
		elems, ok := d.Array(p, t, path)
		if !ok {
			return
		}
		dst.Set(reflect.MakeSlice(t, len(elems), len(elems)))
		for i, e := range elems {
			d.table(e, dst.Index(i), Elem(path, i))
		}
	default:
		d.leaf(p, dst, path)
	}
}

// leaf has BurntSushi decode p into dst whole. Only when that fails (or
// when a text field would be given a number) is the TOML value looked at,
// to tell a type mismatch from a value BurntSushi refused.
func (d *Decoder) leaf(p toml.Primitive, dst reflect.Value, path string) {
	t := dst.Type()
	if d.TextFromString && isText(t) {
		if raw := d.Raw(p); !isString(raw) {
			d.Report(path, &TypeError{Type: t, Value: raw, Want: t, Got: raw})
			return
		}
	}
	err := d.MD.PrimitiveDecode(p, dst.Addr().Interface())
	if err == nil {
		if holdsAny(t) {
			// BurntSushi leaves the keys under an any undecoded.
			if d.whole == nil {
				d.whole = map[string]bool{}
			}
			d.whole[path] = true
		}
		return
	}
	dst.Set(reflect.Zero(t))
	var pe toml.ParseError
	if errors.As(err, &pe) {
		d.Report(path, &ValueError{Msg: pe.Message})
		return
	}
	raw := d.Raw(p)
	if want, got, ok := d.fits(t, raw); !ok {
		d.Report(path, &TypeError{Type: t, Value: raw, Want: want, Got: got})
		return
	}
	d.Report(path, &ValueError{Msg: strings.TrimPrefix(err.Error(), "toml: ")})
}

// holdsAny reports whether a value of type t can hold an any, under which
// BurntSushi puts a table without marking its keys decoded.
func holdsAny(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Map, reflect.Slice, reflect.Array, reflect.Pointer:
		return holdsAny(t.Elem())
	}
	return false
}

func isString(raw any) bool {
	_, ok := raw.(string)
	return ok
}

var durationType = reflect.TypeFor[time.Duration]()

// fits reports whether BurntSushi can put raw into a value of type t and,
// when it cannot, the innermost type and value that do not fit.
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
		ok = isTable(raw)
	}
	if !ok {
		return t, raw, false
	}
	return nil, nil, true
}

// Undecoded reports as unknown every key BurntSushi saw that no field took:
// in practice the keys under a key that was itself reported, which skip
// should then say is accounted for (skip is asked about the key's path and
// each of its parents). Keys under a value decoded whole into an any are
// the value's, not unknown.
func (d *Decoder) Undecoded(skip func(path string) bool) {
	for _, key := range d.MD.Undecoded() {
		for _, p := range d.Index.Expand(key) {
			if under(p, skip) || under(p, func(p string) bool { return d.whole[p] }) {
				continue
			}
			d.Report(p, &UnknownKeyError{Key: key[len(key)-1]})
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

// fields is what strict decoding needs of a struct type: its keys.
type fields struct {
	index map[string]int // key -> field index
	keys  []string       // sorted
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
	fs := &fields{index: map[string]int{}}
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
