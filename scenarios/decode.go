package scenarios

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/internal/stricttoml"
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
	doc, err := stricttoml.Parse(path, data)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{File: path, Line: 1, Col: 1, Msg: err.Error()}
		}
		return nil, ErrorList{e}
	}
	d := &decoder{r: newReport(doc), present: map[string]bool{}, skip: map[string]bool{}, ctx: ctx}
	d.kinds, _ = cat.(probes.Source)
	d.dec = &stricttoml.Decoder{Doc: doc, Report: d.report, TextFromString: true, Custom: d.custom, Present: d.present}

	s := &Scenario{}
	d.dec.Fields(doc.Top, reflect.ValueOf(s).Elem(), "")
	d.dec.Undecoded(func(p string) bool { return d.r.bad[p] || d.skip[p] })
	d.validate(ctx, s, cat)
	if err := d.r.err(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	s.Path, s.Hash, s.Pos = path, hex.EncodeToString(sum[:]), doc.Pos
	return s, nil
}

// decoder fills the scenario's structs through the strict TOML decoder,
// and turns what it reports into the scenario's messages.
type decoder struct {
	dec     *stricttoml.Decoder
	r       *report
	present map[string]bool // key paths found in the file and decoded, but for a probe's keys
	// probeKeys holds each [[probe]] table's keys, which present leaves
	// out: a file may hold tens of thousands of probes.
	probeKeys []map[string]any
	skip      map[string]bool // probes whose other keys are not checked (kind unknown, spec undecodable)
	ctx       context.Context
	kinds     probes.Source // plugin probe kinds (PLUGIN.KIND), when the catalog has them
}

var (
	probesType = reflect.TypeFor[[]Probe]()
	probeType  = reflect.TypeFor[Probe]()
)

// report words a problem the strict decoder found in a scenario's own keys.
func (d *decoder) report(path string, err error) {
	d.r.bad[path] = true
	var (
		uk *stricttoml.UnknownKeyError
		te *stricttoml.TypeError
		ve *stricttoml.ValueError
	)
	switch {
	case errors.As(err, &uk):
		d.unknown(path, uk.Key, uk.Known)
	case errors.As(err, &te):
		d.r.add(path, "want %s, got %s", wantType(te.Type, path), tomlType(te.Value))
	case errors.As(err, &ve):
		d.r.add(path, "%s", ve.Msg)
	default:
		d.r.add(path, "%v", err)
	}
}

func (d *decoder) unknown(path, key string, known []string) {
	for _, k := range known {
		if strings.EqualFold(k, key) || (len(key) > 3 && editDistance(k, key) <= 2) {
			d.r.add(path, "unknown key (did you mean %q?)", k)
			return
		}
	}
	d.r.add(path, "unknown key")
}

func wantType(t reflect.Type, path string) string {
	switch {
	case t == reflect.TypeFor[Duration]():
		return `a duration such as "500ms"`
	case t.Kind() == reflect.Pointer:
		return wantType(t.Elem(), path)
	case t.Kind() == reflect.Struct:
		return "a table"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return "an array of tables ([[" + lastKey(path) + "]])"
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

// custom decodes the [[probe]] array, whose tables mix common keys and
// the keys of each probe's kind.
func (d *decoder) custom(v any, dst reflect.Value, path string) bool {
	if dst.Type() != probesType {
		return false
	}
	d.probes(v, dst, path)
	return true
}

// probes decodes [[probe]] tables, each once: the common keys into Probe,
// the rest into the Spec of the probe's kind, table by table, so that one
// probe's "url" never hides an unknown "url" in a probe of another kind.
func (d *decoder) probes(v any, fv reflect.Value, path string) {
	elems, ok := d.dec.Array(v, probesType, path)
	if !ok {
		return
	}
	out := make([]Probe, len(elems))
	d.probeKeys = make([]map[string]any, len(elems))
	failed := false
	common := d.dec.Derive()
	common.Custom, common.Present = nil, nil
	spec := common.Derive()
	spec.TextFromString = false
	spec.Report = func(path string, err error) {
		failed = true
		d.reportSpec(path, err)
	}
	for i, e := range elems {
		ep := indexPath(path, i)
		m, ok := common.Table(e, probeType, ep)
		if !ok {
			continue
		}
		d.probeKeys[i] = m
		rest := common.Take(m, reflect.ValueOf(&out[i]).Elem(), ep)
		kind := out[i].Kind
		k, ok := lookupProbeKind(kind)
		var kerr error
		if !ok && d.kinds != nil && strings.Contains(kind, ".") {
			k, kerr = d.kinds.ProbeKind(d.ctx, kind)
			ok = kerr == nil
		}
		if !ok {
			kp := joinKey(ep, "kind")
			switch {
			case d.r.bad[kp]:
			case kerr != nil:
				d.r.add(kp, "%v", kerr)
			case kind == "":
				d.r.add(kp, "required (known: %s)", strings.Join(probeKindNames(), ", "))
			default:
				d.r.add(kp, "unknown probe kind %q (known: %s)", kind, strings.Join(probeKindNames(), ", "))
			}
			d.skip[ep] = true
			continue
		}
		if ks, isKeys := k.NewSpec().(probes.KeysSpec); isKeys {
			// A plugin kind: its keys are checked against its Describe.
			ks.SetKeys(d.checkParams(k.Keys, plugins.Params(rest), ep, fmt.Sprintf("key for probe kind %q", kind)))
			out[i].Spec = ks
			continue
		}
		s, failed0 := k.NewSpec(), failed
		unknown := spec.Take(rest, reflect.ValueOf(s).Elem(), ep)
		if failed != failed0 {
			// Report only the value that failed: the spec is not validated
			// either, so what else is wrong with it waits for a fix.
			d.skip[ep] = true
			continue
		}
		for key := range unknown {
			kp := joinKey(ep, key)
			d.r.bad[kp] = true
			d.r.add(kp, "unknown key for probe kind %q", kind)
		}
		out[i].Spec = s
	}
	fv.Set(reflect.ValueOf(out))
}

// reportSpec words a problem in a probe's kind-specific keys the way the
// probe kinds word theirs.
func (d *decoder) reportSpec(path string, err error) {
	d.r.bad[path] = true
	var (
		te *stricttoml.TypeError
		ve *stricttoml.ValueError
	)
	switch {
	case errors.As(err, &te):
		d.r.add(path, "want %s, got %s", specWant(te.Want), specGot(te.Got))
	case errors.As(err, &ve):
		d.r.add(path, "%s", ve.Msg)
	default:
		d.r.add(path, "%v", err)
	}
}

func specWant(t reflect.Type) string {
	switch k := t.Kind(); {
	case reflect.PointerTo(t).Implements(reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()):
		return "a string"
	case k == reflect.Pointer:
		return specWant(t.Elem())
	case k == reflect.Slice || k == reflect.Array:
		return "an array"
	case k >= reflect.Int && k <= reflect.Uint64:
		return "an integer"
	case k == reflect.Float32 || k == reflect.Float64:
		return "a number"
	case k == reflect.String:
		return "a string"
	case k == reflect.Bool:
		return "true or false"
	case k == reflect.Map || k == reflect.Struct:
		return "a table"
	}
	return t.String()
}

func specGot(v any) string {
	switch v.(type) {
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case time.Time:
		return "a datetime"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

func probeKindNames() []string {
	var names []string
	for _, k := range listProbeKinds() {
		names = append(names, k.Name)
	}
	return names
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
