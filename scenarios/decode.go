package scenarios

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/probes"
)

// The probe kind registry, as variables so that tests can stand in a fake
// kind while the real ones are written.
var (
	lookupProbeKind = probes.Lookup
	listProbeKinds  = probes.Kinds
)

// Load reads, decodes and validates the scenario file at path. Problems in
// the file come back together as an ErrorList; cat may be nil, and then
// plugin-specific checks are skipped.
func Load(ctx context.Context, path string, cat plugins.Catalog) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario: %w", err)
	}
	return Parse(ctx, path, data, cat)
}

// Parse decodes and validates a scenario held in data; path only names it in
// errors and in Scenario.Path. Any error is an ErrorList.
func Parse(ctx context.Context, path string, data []byte, cat plugins.Catalog) (*Scenario, error) {
	var top map[string]toml.Primitive
	md, err := toml.NewDecoder(strings.NewReader(string(data))).Decode(&top)
	if err != nil {
		return nil, ErrorList{syntaxError(path, err)}
	}
	ix := buildIndex(data)
	d := &decoder{data: data, md: &md, r: newReport(path, ix), present: map[string]bool{}}

	s := &Scenario{}
	d.fields(top, reflect.ValueOf(s).Elem(), "")
	d.undecoded()
	d.validate(ctx, s, cat)
	if err := d.r.err(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	s.Path, s.Hash, s.Pos = path, hex.EncodeToString(sum[:]), ix
	return s, nil
}

func syntaxError(path string, err error) *Error {
	e := &Error{File: path, Line: 1, Col: 1, Msg: err.Error()}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		e.Msg = pe.Message
		e.Line, e.Col = max(pe.Position.Line, 1), max(pe.Position.Col, 1)
	}
	return e
}

// decoder turns BurntSushi primitives into the scenario's structs one key
// at a time, so that every unknown key and every mistyped value is reported,
// not just the first.
type decoder struct {
	data    []byte
	md      *toml.MetaData
	r       *report
	present map[string]bool // key paths found in the file and decoded
}

var (
	probesType      = reflect.TypeFor[[]Probe]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// tomlFields maps each TOML key of struct type t to its field index.
func tomlFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = i
	}
	return out
}

// table decodes a TOML table into the struct dst.
func (d *decoder) table(p toml.Primitive, dst reflect.Value, path string) {
	var m map[string]toml.Primitive
	if err := d.md.PrimitiveDecode(p, &m); err != nil {
		d.typeErr(path, p, "a table")
		return
	}
	d.fields(m, dst, path)
}

// fields decodes each key of a table into the field of dst it names; keys
// that name no field are errors. Names match exactly, unlike BurntSushi's
// own case-insensitive fallback.
func (d *decoder) fields(m map[string]toml.Primitive, dst reflect.Value, path string) {
	known := tomlFields(dst.Type())
	for key, p := range m {
		kp := joinKey(path, key)
		i, ok := known[key]
		if !ok {
			d.unknown(kp, key, known)
			continue
		}
		d.present[kp] = true
		d.value(p, dst.Field(i), kp)
	}
}

func (d *decoder) unknown(path, key string, known map[string]int) {
	d.r.bad[path] = true
	for k := range known {
		if strings.EqualFold(k, key) || (len(key) > 3 && editDistance(k, key) <= 2) {
			d.r.add(path, "unknown key (did you mean %q?)", k)
			return
		}
	}
	d.r.add(path, "unknown key")
}

func (d *decoder) value(p toml.Primitive, fv reflect.Value, path string) {
	t := fv.Type()
	switch {
	case t == probesType:
		d.probes(p, fv, path)
	case reflect.PointerTo(t).Implements(textUnmarshaler):
		d.leaf(p, fv, path)
	case t.Kind() == reflect.Struct:
		d.table(p, fv, path)
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		fv.Set(reflect.New(t.Elem()))
		d.table(p, fv.Elem(), path)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		elems, ok := d.array(p, path)
		if !ok {
			return
		}
		fv.Set(reflect.MakeSlice(t, len(elems), len(elems)))
		for i, e := range elems {
			d.table(e, fv.Index(i), indexPath(path, i))
		}
	default:
		d.leaf(p, fv, path)
	}
}

func (d *decoder) array(p toml.Primitive, path string) ([]toml.Primitive, bool) {
	var elems []toml.Primitive
	if err := d.md.PrimitiveDecode(p, &elems); err != nil {
		d.typeErr(path, p, "an array of tables ([["+lastKey(path)+"]])")
		return nil, false
	}
	return elems, true
}

func (d *decoder) leaf(p toml.Primitive, fv reflect.Value, path string) {
	if reflect.PointerTo(fv.Type()).Implements(textUnmarshaler) {
		// BurntSushi would format a number or boolean as text and hand it
		// to UnmarshalText; say plainly that a string is wanted.
		var raw any
		if _ = d.md.PrimitiveDecode(p, &raw); reflect.TypeOf(raw) != reflect.TypeFor[string]() {
			d.typeErr(path, p, wantType(fv.Type()))
			return
		}
	}
	err := d.md.PrimitiveDecode(p, fv.Addr().Interface())
	if err == nil {
		return
	}
	fv.Set(reflect.Zero(fv.Type()))
	var pe toml.ParseError
	if errors.As(err, &pe) {
		d.r.bad[path] = true
		d.r.add(path, "%s", pe.Message)
		return
	}
	d.typeErr(path, p, wantType(fv.Type()))
}

func (d *decoder) typeErr(path string, p toml.Primitive, want string) {
	var got any
	_ = d.md.PrimitiveDecode(p, &got)
	d.r.bad[path] = true
	d.r.add(path, "want %s, got %s", want, tomlType(got))
}

func wantType(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[Duration]():
		return `a duration such as "500ms"`
	case t.Kind() == reflect.Pointer:
		return wantType(t.Elem())
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "an integer"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "an array of strings"
	case t.Kind() == reflect.Map:
		return "a table"
	}
	return t.String()
}

// tomlType names the TOML type of a decoded value.
func tomlType(v any) string {
	switch v := v.(type) {
	case string:
		return "string " + strconv.Quote(v)
	case int64:
		return "integer " + strconv.FormatInt(v, 10)
	case float64:
		return "float " + strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return "boolean " + strconv.FormatBool(v)
	case time.Time:
		return "datetime"
	case []map[string]any:
		return "array of tables"
	case []any:
		return "array"
	case map[string]any:
		return "table"
	}
	return fmt.Sprintf("%T", v)
}

// probes decodes [[probe]] tables: the common keys into Probe, the rest
// into the Spec of the probe's kind.
func (d *decoder) probes(p toml.Primitive, fv reflect.Value, path string) {
	elems, ok := d.array(p, path)
	if !ok {
		return
	}
	common := tomlFields(reflect.TypeFor[Probe]())
	out := make([]Probe, len(elems))
	byKind := map[string][]int{}
	for i, e := range elems {
		ep := indexPath(path, i)
		var m map[string]toml.Primitive
		if err := d.md.PrimitiveDecode(e, &m); err != nil {
			d.typeErr(ep, e, "a table")
			continue
		}
		mine := map[string]toml.Primitive{}
		for k, v := range m {
			if _, ok := common[k]; ok {
				mine[k] = v
			}
		}
		d.fields(mine, reflect.ValueOf(&out[i]).Elem(), ep)
		kind := out[i].Kind
		switch _, ok := lookupProbeKind(kind); {
		case d.r.bad[joinKey(ep, "kind")]:
		case kind == "":
			d.r.add(joinKey(ep, "kind"), "required (known: %s)", strings.Join(probeKindNames(), ", "))
		case !ok:
			d.r.add(joinKey(ep, "kind"), "unknown probe kind %q (known: %s)", kind, strings.Join(probeKindNames(), ", "))
		default:
			byKind[kind] = append(byKind[kind], i)
		}
	}
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		d.probeSpecs(k, byKind[k], out, path, common)
	}
	fv.Set(reflect.ValueOf(out))
}

func probeKindNames() []string {
	var names []string
	for _, k := range listProbeKinds() {
		names = append(names, k.Name)
	}
	return names
}

// BurntSushi's type mismatch errors are plain strings; these pick out the
// key and the types so the message reads like the others.
var (
	lastKeyRe = regexp.MustCompile(`last key ("(?:[^"\\]|\\.)*")`)
	badTypeRe = regexp.MustCompile(`TOML value has type (.+); destination has type (.+)$`)
)

// probeSpecs decodes the specs of the probes of one kind. BurntSushi marks
// keys decoded without the array index, so one probe's "url" would hide an
// unknown "url" in a probe of another kind: each kind gets a MetaData of its
// own, and its Undecoded keys are exactly the keys its kind does not know.
func (d *decoder) probeSpecs(kind string, idx []int, out []Probe, path string, common map[string]int) {
	var raw struct {
		Probe []toml.Primitive `toml:"probe"`
	}
	md, err := toml.Decode(string(d.data), &raw)
	if err != nil || len(raw.Probe) != len(out) {
		return // the first decode succeeded, so this cannot happen
	}
	k, _ := lookupProbeKind(kind)
	mine := map[string]bool{}
	for _, i := range idx {
		ep := indexPath(path, i)
		spec := k.NewSpec()
		if err := md.PrimitiveDecode(raw.Probe[i], spec); err != nil {
			// Decoding stopped at this error: the keys after it are
			// unread, not unknown, so report only the error.
			field := ep
			var pe toml.ParseError
			msg := err.Error()
			if errors.As(err, &pe) {
				msg = pe.Message
				if rel, ok := strings.CutPrefix(pe.LastKey, path+"."); ok {
					field = ep + "." + rel
				}
			} else if m := lastKeyRe.FindStringSubmatch(msg); m != nil {
				if key, uerr := strconv.Unquote(m[1]); uerr == nil {
					if rel, ok := strings.CutPrefix(key, path+"."); ok {
						field = ep + "." + rel
					}
				}
				msg = msg[strings.Index(msg, m[0])+len(m[0]):]
				msg = strings.TrimPrefix(strings.TrimPrefix(msg, ")"), ": ")
			}
			msg = strings.TrimPrefix(msg, "toml: ")
			if m := badTypeRe.FindStringSubmatch(msg); m != nil {
				want := map[string]string{"slice": "an array", "integer": "an integer", "float": "a number",
					"string": "a string", "boolean": "true or false", "map": "a table"}[m[2]]
				if want == "" {
					want = m[2]
				}
				got := map[string]string{"int64": "an integer", "float64": "a float", "bool": "a boolean",
					"string": "a string", "[]interface {}": "an array", "map[string]interface {}": "a table"}[m[1]]
				if got == "" {
					got = m[1]
				}
				msg = "want " + want + ", got " + got
			}
			d.r.bad[field] = true
			d.r.add(field, "%s", msg)
			continue
		}
		out[i].Spec = spec
		mine[ep] = true
	}
	for _, key := range md.Undecoded() {
		if len(key) < 2 || key[0] != path {
			continue
		}
		if _, ok := common[key[1]]; ok {
			continue
		}
		for _, p := range d.r.ix.expand("", key) {
			ep := p
			for parentPath(ep) != path && ep != "" {
				ep = parentPath(ep)
			}
			if !mine[ep] || d.r.underBad(p) {
				continue
			}
			d.r.bad[p] = true
			d.r.add(p, "unknown key for probe kind %q", kind)
		}
	}
}

// undecoded is the safety net: whatever BurntSushi saw that no field took
// is an unknown key. Probe kind keys are checked per kind in probeSpecs.
func (d *decoder) undecoded() {
	for _, key := range d.md.Undecoded() {
		if key[0] == "probe" {
			continue
		}
		for _, p := range d.r.ix.expand("", key) {
			if d.r.underBad(p) {
				continue
			}
			d.r.bad[p] = true
			d.r.add(p, "unknown key")
		}
	}
}

// editDistance is the Levenshtein distance, for "did you mean" hints.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
