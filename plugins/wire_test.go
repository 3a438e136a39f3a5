package plugins

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/chaosctl/chaosctl/plugins/proto/faultpb"
)

func TestParamsKeepTheirTOMLTypes(t *testing.T) {
	in := Params{
		"s": "x", "i": int64(3), "f": float64(3), "b": true,
		"list":  []any{int64(1), 2.5, "y"},
		"table": map[string]any{"n": int64(-7), "deep": map[string]any{"ok": false}},
	}
	m, err := toMap(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back faultpb.MapValue
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	out, err := fromMap(&back)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip changed params:\n in  %#v\n out %#v", in, out)
	}
	if _, err := toMap(map[string]any{"c": complex(1, 2)}); err == nil {
		t.Fatal("a complex number crossed the wire")
	}
}

func TestDescriptorRoundTrip(t *testing.T) {
	lo, hi := 1.0, 100.0
	d := Descriptor{Name: "n", Version: "1", Doc: "d", Actions: []Action{{
		Name: "a", Doc: "ad", Reversible: true,
		Params:   []Param{{Name: "p", Type: TypeInt, Default: int64(5), Min: &lo, Max: &hi, Doc: "pd"}, {Name: "e", Type: TypeString, Enum: []string{"x", "y"}, Required: true}},
		Selector: []Param{{Name: "s", Type: TypeFloat, Default: 2.0}},
	}}}
	pd, err := toDescriptor(d)
	if err != nil {
		t.Fatal(err)
	}
	back, err := fromDescriptor(pd)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, back) {
		t.Fatalf("descriptor changed:\n in  %#v\n out %#v", d, back)
	}
}

// FuzzValue decodes arbitrary bytes as a wire MapValue: it must never
// panic, and what decodes must encode back to the same params.
func FuzzValue(f *testing.F) {
	m, _ := toMap(Params{"a": int64(1), "b": []any{"x", 2.0}, "c": map[string]any{"d": true}})
	seed, _ := proto.Marshal(m)
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var mv faultpb.MapValue
		if proto.Unmarshal(b, &mv) != nil {
			return
		}
		p, err := fromMap(&mv)
		if err != nil {
			return
		}
		again, err := toMap(p)
		if err != nil {
			t.Fatalf("decoded params do not encode: %v", err)
		}
		p2, err := fromMap(again)
		// Compared as text: NaN is not DeepEqual to itself.
		if err != nil || fmt.Sprintf("%#v", p) != fmt.Sprintf("%#v", p2) {
			t.Fatalf("unstable round trip: %#v vs %#v (%v)", p, p2, err)
		}
	})
}

func TestRemoteErrorMatchesSentinels(t *testing.T) {
	e := &RemoteError{Msg: "m", sentinels: []error{ErrNoTargets}, violations: []*ValidationError{{Field: "f", Msg: "bad"}}}
	var ve *ValidationError
	if !errors.Is(e, ErrNoTargets) || errors.Is(e, ErrUnknownAction) || !errors.As(e, &ve) || ve.Field != "f" {
		t.Fatalf("RemoteError does not match: %v", e)
	}
}
