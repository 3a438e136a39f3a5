package agent

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
)

// TestInjectRequestKeepsTypes: params cross the wire with their TOML
// types, which plain JSON would turn into float64.
func TestInjectRequestKeepsTypes(t *testing.T) {
	in := InjectRequest{ID: NewID(), Plugin: "stress", Action: "cpu", Lease: 5 * time.Second, Duration: time.Minute, By: "me",
		Params:   plugins.Params{"workers": int64(2), "load": 50.0, "note": "x", "on": true, "ports": []any{"80", "443"}},
		Selector: plugins.Params{"container": "abc"}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out InjectRequest
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n in  %#v\n out %#v", in, out)
	}
}

func TestCheck(t *testing.T) {
	ok := InjectRequest{ID: NewID(), Plugin: "p", Action: "a", Lease: DefaultLease}
	for _, tc := range []struct {
		name  string
		edit  func(*InjectRequest)
		field string
	}{
		{"fine", func(*InjectRequest) {}, ""},
		{"short id", func(r *InjectRequest) { r.ID = "abc" }, "id"},
		{"id with a slash", func(r *InjectRequest) { r.ID = "abcdefgh/ij" }, "id"},
		{"no plugin", func(r *InjectRequest) { r.Plugin = "" }, "plugin"},
		{"no action", func(r *InjectRequest) { r.Action = "" }, "action"},
		{"lease too long", func(r *InjectRequest) { r.Lease = MaxLease + time.Second }, "lease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			err := r.Check()
			var ve *plugins.ValidationError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("unexpected %v", err)
			case tc.field != "" && (!errors.As(err, &ve) || ve.Field != tc.field):
				t.Fatalf("err %v, want one naming %s", err, tc.field)
			}
		})
	}
}

func TestNewClientRefusesTokenInClear(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr string
		want error
	}{
		{"http://10.0.0.5:7071", ErrTokenInClear},
		{"http://127.0.0.1:7071", nil},
	} {
		_, err := NewClient(tc.addr, Options{TokenFile: tok})
		if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
			t.Errorf("%s: %v, want %v", tc.addr, err, tc.want)
		}
	}
	// https by default, and only against the agents' own CA.
	if _, err := NewClient("10.0.0.5:7071", Options{TokenFile: tok}); err == nil || !strings.Contains(err.Error(), EnvCAFile) {
		t.Errorf("https without the agents' CA: %v, want an error naming %s", err, EnvCAFile)
	}
	if _, err := NewClient("127.0.0.1:7071", Options{}); err == nil {
		t.Error("no token: no error")
	}
}
