package scenarios

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
)

var update = flag.Bool("update", false, "rewrite testdata/*.err golden files")

func TestLoadGood(t *testing.T) {
	useFakeKinds(t)
	s, err := Load(context.Background(), "testdata/good.toml", newFakeCatalog())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if s.Name != "checkout-worker-killed" || s.Path != "testdata/good.toml" || len(s.Hash) != 64 {
		t.Errorf("name, path, hash = %q, %q, %q", s.Name, s.Path, s.Hash)
	}
	if got := s.Probes[0].Spec.(*fakeHTTPSpec); got.URL != "http://localhost:8080/checkout/health" || !reflect.DeepEqual(got.ExpectStatus, []int{200}) {
		t.Errorf("probe[0] spec = %+v", got)
	}
	if got := s.Probes[1].Spec.(*fakeTCPSpec); got.Address != "localhost:9090" {
		t.Errorf("probe[1] spec = %+v", got)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"steady.duration", s.Steady.Duration.Duration, 5 * time.Second},
		{"probe[0].interval", s.Probes[0].Interval.Duration, 500 * time.Millisecond},
		{"probe[0].timeout defaults to the interval", s.Probes[0].Timeout.Duration, 500 * time.Millisecond},
		{"probe[1].interval default", s.Probes[1].Interval.Duration, time.Second},
		{"slo[1].window default", s.SLOs[1].Window.Duration, 5 * time.Second},
		{"fault[1].name default", s.Faults[1].Name, "disk-fill-1"},
		{"fault[0].params default signal", s.Faults[0].Params["signal"], "KILL"},
		{"fault[0].params.count", s.Faults[0].Params["count"], int64(2)},
		{"fault[1].params.percent int made float", s.Faults[1].Params["percent"], 90.0},
		{"fault[1].params.block default", s.Faults[1].Params["block"], "1s"},
		{"fault[1].target.path", s.Faults[1].Target["path"], "/var/lib/payments"},
		{"recovery.hold_for default", s.Recovery.HoldFor.Duration, 2 * time.Second},
		{"recovery.measure_from default", s.Recovery.MeasureFrom, "inject"},
		{"safety.on_empty_selection default", s.Safety.OnEmptySelection, "fail"},
		{"safety.stop[0].window default", s.Safety.Stop[0].Window.Duration, 10 * time.Second},
		{"pos probe[1].address", s.Pos.Index()["probe[1].address"], Position{Line: 29, Col: 1}},
		{"pos fault[0] header", s.Pos.Index()["fault[0]"], Position{Line: 43, Col: 1}},
		{"pos fault[0].target.name", s.Pos.Index()["fault[0].target.name"], Position{Line: 47, Col: 12}},
		{"pos fault[0].params.count", s.Pos.Index()["fault[0].params.count"], Position{Line: 48, Col: 8}},
		{"pos fault[1].params.percent", s.Pos.Index()["fault[1].params.percent"], Position{Line: 58, Col: 1}},
		{"pos safety.stop[0].probe", s.Pos.Index()["safety.stop[0].probe"], Position{Line: 69, Col: 1}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
}

// TestLoadNilCatalog: without a catalog the plugin-specific checks are
// skipped but a plugin name is still required.
func TestLoadNilCatalog(t *testing.T) {
	useFakeKinds(t)
	if _, err := Load(context.Background(), "testdata/good.toml", nil); err != nil {
		t.Fatalf("Load without catalog: %v", err)
	}
	_, err := Load(context.Background(), "testdata/bad-fault-schema.toml", nil)
	want := "testdata/bad-fault-schema.toml:22:1: fault[2].plugin: required"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to contain %q", err, want)
	}
	if strings.Contains(err.Error(), "unknown plugin") {
		t.Errorf("plugin checks ran without a catalog: %v", err)
	}
}

func TestLoadBad(t *testing.T) {
	useFakeKinds(t)
	files, err := filepath.Glob("testdata/bad-*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/bad-*.toml: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".toml"), func(t *testing.T) {
			_, err := Load(context.Background(), file, newFakeCatalog())
			if err == nil {
				t.Fatal("Load succeeded, want errors")
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want ErrorList: %v", err, err)
			}
			got := err.Error() + "\n"
			golden := file + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	e := &Error{File: "bad.toml", Line: 12, Col: 1, Field: "fault[0].plugin", Msg: `unknown plugin "nope" (known: disk, process)`}
	want := `bad.toml:12:1: fault[0].plugin: unknown plugin "nope" (known: disk, process)`
	if e.Error() != want {
		t.Errorf("got %q, want %q", e.Error(), want)
	}
	list := ErrorList{{File: "a", Line: 3, Col: 1, Msg: "x"}, {File: "a", Line: 1, Col: 2, Msg: "y"}}
	list.Sort()
	if got := list.Error(); got != "a:1:2: y\na:3:1: x" {
		t.Errorf("sorted list = %q", got)
	}
}

func TestPluginErrorIsKept(t *testing.T) {
	useFakeKinds(t)
	cat := newFakeCatalog()
	data, err := os.ReadFile("testdata/good.toml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(context.Background(), "x.toml", data, brokenCatalog{cat})
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 || !strings.Contains(list[0].Msg, "plugin process is gone") {
		t.Fatalf("err = %v, want one error naming the dead plugin", err)
	}
}

// brokenCatalog fails to load the process plugin for a reason other than it
// being unknown.
type brokenCatalog struct{ fakeCatalog }

func (c brokenCatalog) Lookup(ctx context.Context, name string) (plugins.Fault, error) {
	if name == "process" {
		return nil, plugins.ErrPluginShutdown
	}
	return c.fakeCatalog.Lookup(ctx, name)
}
