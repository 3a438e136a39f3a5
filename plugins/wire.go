package plugins

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/chaosctl/chaosctl/plugins/proto/faultpb"
)

// Wire conversions between the Go contract and the proto messages. Values
// keep their TOML types: int64 stays int64 and float64 stays float64, which
// JSON or structpb would not guarantee.

func toValue(v any) (*faultpb.Value, error) {
	switch x := v.(type) {
	case string:
		return &faultpb.Value{Kind: &faultpb.Value_StringValue{StringValue: x}}, nil
	case int64:
		return &faultpb.Value{Kind: &faultpb.Value_IntValue{IntValue: x}}, nil
	case int:
		return &faultpb.Value{Kind: &faultpb.Value_IntValue{IntValue: int64(x)}}, nil
	case float64:
		return &faultpb.Value{Kind: &faultpb.Value_FloatValue{FloatValue: x}}, nil
	case bool:
		return &faultpb.Value{Kind: &faultpb.Value_BoolValue{BoolValue: x}}, nil
	case time.Duration:
		return &faultpb.Value{Kind: &faultpb.Value_StringValue{StringValue: x.String()}}, nil
	case []string:
		l := &faultpb.ListValue{}
		for _, s := range x {
			l.Values = append(l.Values, &faultpb.Value{Kind: &faultpb.Value_StringValue{StringValue: s}})
		}
		return &faultpb.Value{Kind: &faultpb.Value_ListValue{ListValue: l}}, nil
	case []any:
		l := &faultpb.ListValue{}
		for i, e := range x {
			pv, err := toValue(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			l.Values = append(l.Values, pv)
		}
		return &faultpb.Value{Kind: &faultpb.Value_ListValue{ListValue: l}}, nil
	case map[string]any:
		m, err := toMap(x)
		if err != nil {
			return nil, err
		}
		return &faultpb.Value{Kind: &faultpb.Value_MapValue{MapValue: m}}, nil
	case Params:
		return toValue(map[string]any(x))
	default:
		return nil, fmt.Errorf("unsupported value type %T", v)
	}
}

func toMap(m map[string]any) (*faultpb.MapValue, error) {
	if m == nil {
		return nil, nil
	}
	out := &faultpb.MapValue{Fields: make(map[string]*faultpb.Value, len(m))}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := toValue(m[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out.Fields[k] = v
	}
	return out, nil
}

func fromValue(v *faultpb.Value) (any, error) {
	switch x := v.GetKind().(type) {
	case *faultpb.Value_StringValue:
		return x.StringValue, nil
	case *faultpb.Value_IntValue:
		return x.IntValue, nil
	case *faultpb.Value_FloatValue:
		return x.FloatValue, nil
	case *faultpb.Value_BoolValue:
		return x.BoolValue, nil
	case *faultpb.Value_ListValue:
		out := make([]any, 0, len(x.ListValue.GetValues()))
		for i, e := range x.ListValue.GetValues() {
			gv, err := fromValue(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out = append(out, gv)
		}
		return out, nil
	case *faultpb.Value_MapValue:
		m, err := fromMap(x.MapValue)
		if err != nil {
			return nil, err
		}
		return map[string]any(m), nil
	default:
		return nil, fmt.Errorf("value without a kind")
	}
}

func fromMap(m *faultpb.MapValue) (Params, error) {
	if m == nil {
		return nil, nil
	}
	out := make(Params, len(m.GetFields()))
	for k, v := range m.GetFields() {
		gv, err := fromValue(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = gv
	}
	return out, nil
}

func toTarget(t Target) *faultpb.Target {
	return &faultpb.Target{Kind: t.Kind, Id: t.ID, Name: t.Name, Attrs: t.Attrs}
}

func fromTarget(t *faultpb.Target) Target {
	out := Target{Kind: t.GetKind(), ID: t.GetId(), Name: t.GetName()}
	if len(t.GetAttrs()) > 0 {
		out.Attrs = t.GetAttrs()
	}
	return out
}

func toParams(ps []Param) ([]*faultpb.Param, error) {
	out := make([]*faultpb.Param, 0, len(ps))
	for _, p := range ps {
		pp := &faultpb.Param{Name: p.Name, Type: string(p.Type), Required: p.Required, Doc: p.Doc, Min: p.Min, Max: p.Max, Enum: p.Enum}
		if p.Default != nil {
			v, err := toValue(p.Default)
			if err != nil {
				return nil, fmt.Errorf("param %s default: %w", p.Name, err)
			}
			pp.Default = v
		}
		out = append(out, pp)
	}
	return out, nil
}

func fromParams(ps []*faultpb.Param) ([]Param, error) {
	var out []Param
	for _, p := range ps {
		gp := Param{Name: p.GetName(), Type: ParamType(p.GetType()), Required: p.GetRequired(), Doc: p.GetDoc(), Min: p.Min, Max: p.Max, Enum: p.GetEnum()}
		if p.GetDefault() != nil {
			v, err := fromValue(p.GetDefault())
			if err != nil {
				return nil, fmt.Errorf("param %s default: %w", p.GetName(), err)
			}
			gp.Default = v
		}
		out = append(out, gp)
	}
	return out, nil
}

func toDescriptor(d Descriptor) (*faultpb.Descriptor, error) {
	out := &faultpb.Descriptor{Name: d.Name, Version: d.Version, Doc: d.Doc}
	for _, a := range d.Actions {
		params, err := toParams(a.Params)
		if err != nil {
			return nil, fmt.Errorf("action %s: %w", a.Name, err)
		}
		sel, err := toParams(a.Selector)
		if err != nil {
			return nil, fmt.Errorf("action %s selector: %w", a.Name, err)
		}
		out.Actions = append(out.Actions, &faultpb.Action{Name: a.Name, Doc: a.Doc, Reversible: a.Reversible, Params: params, Selector: sel})
	}
	return out, nil
}

func fromDescriptor(d *faultpb.Descriptor) (Descriptor, error) {
	out := Descriptor{Name: d.GetName(), Version: d.GetVersion(), Doc: d.GetDoc()}
	for _, a := range d.GetActions() {
		params, err := fromParams(a.GetParams())
		if err != nil {
			return Descriptor{}, fmt.Errorf("action %s: %w", a.GetName(), err)
		}
		sel, err := fromParams(a.GetSelector())
		if err != nil {
			return Descriptor{}, fmt.Errorf("action %s selector: %w", a.GetName(), err)
		}
		out.Actions = append(out.Actions, Action{Name: a.GetName(), Doc: a.GetDoc(), Reversible: a.GetReversible(), Params: params, Selector: sel})
	}
	return out, nil
}

// EncodeParams is params as JSON that keeps their TOML types (int64 stays
// int64), for a wire other than the plugin protocol: the node agent's API.
func EncodeParams(p Params) (json.RawMessage, error) {
	m, err := toMap(p)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return json.RawMessage("null"), nil
	}
	return protojson.Marshal(m)
}

// DecodeParams reads what EncodeParams wrote.
func DecodeParams(b json.RawMessage) (Params, error) {
	if len(b) == 0 || string(b) == "null" {
		return nil, nil
	}
	var m faultpb.MapValue
	if err := protojson.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	return fromMap(&m)
}
