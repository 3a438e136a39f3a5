package probes

import (
	"context"
	"errors"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKindsRegisteredOnceAndSorted(t *testing.T) {
	var names []string
	for _, k := range Kinds() {
		names = append(names, k.Name)
		assert.NotEmpty(t, k.Doc, k.Name)
		got, ok := Lookup(k.Name)
		require.True(t, ok, k.Name)
		assert.Equal(t, k.Name, got.Name)
		// Each call yields a fresh spec: decoding one must not touch another.
		assert.NotSame(t, k.NewSpec(), k.NewSpec(), k.Name)
	}
	assert.Equal(t, []string{"cmd", "container", "host", "http", "kubernetes", "load", "prometheus", "tcp"}, names)
	assert.True(t, sort.StringsAreSorted(names))

	_, ok := Lookup("dns")
	assert.False(t, ok)
}

func TestRegisterRejectsDuplicatesAndBlanks(t *testing.T) {
	assert.PanicsWithValue(t, `probes: kind "http" registered twice`, func() {
		register(Kind{Name: "http", NewSpec: func() Spec { return &HTTPSpec{} }})
	})
	assert.Panics(t, func() { register(Kind{Name: "x"}) })
	assert.Panics(t, func() { register(Kind{NewSpec: func() Spec { return &HTTPSpec{} }}) })
}

// decodeProbes decodes [[probe]] tables the way the scenario loader does:
// common keys into a struct, the rest strictly into the kind's Spec.
func decodeProbes(t *testing.T, doc string) (specs []Spec, unknown []string) {
	t.Helper()
	var file struct {
		Probe []toml.Primitive `toml:"probe"`
	}
	md, err := toml.Decode(doc, &file)
	require.NoError(t, err)
	for i, prim := range file.Probe {
		var common struct {
			Name     string   `toml:"name"`
			Kind     string   `toml:"kind"`
			Interval Duration `toml:"interval"`
			Timeout  Duration `toml:"timeout"`
		}
		require.NoError(t, md.PrimitiveDecode(prim, &common))
		k, ok := Lookup(common.Kind)
		require.True(t, ok, "probe[%d]: unknown kind %q", i, common.Kind)
		spec := k.NewSpec()
		require.NoError(t, md.PrimitiveDecode(prim, spec), "probe[%d]", i)
		specs = append(specs, spec)
	}
	common := map[string]bool{"name": true, "kind": true, "interval": true, "timeout": true}
	for _, key := range md.Undecoded() {
		if len(key) == 3 && key[0] == "probe" && common[key[2]] {
			continue
		}
		// Keys decoded by the spec are marked decoded; anything left is unknown.
		unknown = append(unknown, key.String())
	}
	return specs, unknown
}

func TestSpecsDecodeFromTOML(t *testing.T) {
	specs, unknown := decodeProbes(t, `
[[probe]]
name = "api"
kind = "http"
interval = "100ms"
timeout = "1s"
url = "https://api.internal/health"
method = "POST"
headers = { Authorization = "Bearer x" }
body = '{"deep":true}'
expect_status = [200, 204]
body_regex = "ok"
json_path = "$.status"
json_equals = "up"
tls_skip_verify = true
follow_redirects = false

[[probe]]
name = "db"
kind = "tcp"
address = "db:5432"
send = "PING\r\n"
expect = "PONG"

[[probe]]
name = "ready"
kind = "cmd"
command = ["pg_isready", "-h", "db"]
env = { PGCONNECT_TIMEOUT = "1" }
dir = "/tmp"
expect_exit = 0
stdout_regex = "accepting"

[[probe]]
name = "cpu"
kind = "host"
metric = "cpu"
max = 90
window = "500ms"
`)
	require.Len(t, specs, 4)
	assert.Empty(t, unknown)
	no := false
	assert.Equal(t, &HTTPSpec{
		URL: "https://api.internal/health", Method: "POST",
		Headers: map[string]string{"Authorization": "Bearer x"}, Body: `{"deep":true}`,
		ExpectStatus: []int{200, 204}, BodyRegex: "ok", JSONPath: "$.status", JSONEquals: "up",
		TLSSkipVerify: true, FollowRedirects: &no,
	}, specs[0])
	assert.Equal(t, &TCPSpec{Address: "db:5432", Send: "PING\r\n", Expect: "PONG"}, specs[1])
	assert.Equal(t, &CmdSpec{
		Command: []string{"pg_isready", "-h", "db"}, Env: map[string]string{"PGCONNECT_TIMEOUT": "1"},
		Dir: "/tmp", StdoutRegex: "accepting",
	}, specs[2])
	assert.Equal(t, &HostSpec{Metric: "cpu", Max: new(90.0), Window: Duration{500 * time.Millisecond}}, specs[3])
	for i, s := range specs {
		assert.Empty(t, s.Validate(), "probe[%d]", i)
	}
}

func TestUnknownSpecKeysAreLeftUndecoded(t *testing.T) {
	_, unknown := decodeProbes(t, `
[[probe]]
name = "db"
kind = "tcp"
address = "db:5432"
adress = "typo:1"
`)
	assert.Equal(t, []string{"probe.adress"}, unknown)
}

func TestDurationText(t *testing.T) {
	var d Duration
	require.NoError(t, d.UnmarshalText([]byte("1m30s")))
	assert.Equal(t, 90*time.Second, d.Duration)
	b, err := d.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "1m30s", string(b))
	assert.EqualError(t, d.UnmarshalText([]byte("10")), `not a duration: "10" (use Go durations such as "500ms" or "2m")`)
}

func TestReason(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	refused := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want string
	}{
		{"plain", context.Background(), refused, "dial tcp 127.0.0.1:1: connect: connection refused"},
		{"url error unwrapped", context.Background(), &url.Error{Op: "Get", URL: "http://x", Err: refused}, "dial tcp 127.0.0.1:1: connect: connection refused"},
		{"ctx deadline itself", expired, context.DeadlineExceeded, "timed out: context deadline exceeded"},
		{"other error after deadline", expired, errors.New("read: use of closed connection"), "timed out: context deadline exceeded (read: use of closed connection)"},
		{"canceled", canceled, errors.New("read: use of closed connection"), "canceled: read: use of closed connection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, reason(tt.ctx, tt.err))
		})
	}
}
