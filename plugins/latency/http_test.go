package latency

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/plugins/latency/tcpproxy"
)

func TestValidateHTTPActions(t *testing.T) {
	f := &Fault{}
	ctx := context.Background()
	prx := plugins.Params{"proxy": "127.0.0.1:1"}
	for _, tc := range []struct {
		action string
		params plugins.Params
		sel    plugins.Params
		want   string // "" valid
	}{
		{"http_abort", plugins.Params{"percent": 50.0, "method": "GET", "path_prefix": "/pay", "status": int64(503), "body": "down"}, prx, ""},
		{"http_abort", plugins.Params{"percent": int64(100), "path_regex": `^/orders/[0-9]+$`, "header": "X-Tenant=acme"}, prx, ""},
		{"http_delay", plugins.Params{"delay": "300ms", "path_prefix": "/"}, prx, ""},
		{"http_header", plugins.Params{"set_headers": map[string]any{"Cache-Control": "no-store"}, "remove_headers": []any{"ETag"}}, prx, ""},
		{"http_abort", plugins.Params{"percent": 0.0}, prx, "params.percent: percent must be in (0, 100], got 0"},
		{"http_abort", plugins.Params{"percent": 100.5}, prx, "params.percent: percent must be in (0, 100], got 100.5"},
		{"http_abort", plugins.Params{"percent": "half"}, prx, "params.percent: want a number"},
		{"http_abort", plugins.Params{"path_regex": "(["}, prx, "params.path_regex: path_regex does not compile: error parsing regexp: missing closing ]"},
		{"http_abort", plugins.Params{"status": int64(600)}, prx, "params.status: want an HTTP status in 100-599, got 600"},
		{"http_abort", plugins.Params{"status": int64(99)}, prx, "params.status: want an HTTP status in 100-599, got 99"},
		{"http_abort", plugins.Params{"header": "X-Tenant"}, prx, `params.header: header must be "Name=value", got "X-Tenant"`},
		{"http_abort", plugins.Params{"method": "GE T"}, prx, `params.method: method must be an HTTP token`},
		{"http_abort", plugins.Params{"path_prefix": "pay"}, prx, `params.path_prefix: a URL path starts with /, got "pay"`},
		{"http_delay", plugins.Params{}, prx, `params.delay: http_delay needs a delay`},
		{"http_delay", plugins.Params{"delay": "soon"}, prx, `params.delay: not a duration: "soon"`},
		{"http_header", plugins.Params{}, prx, "params.set_headers: http_header needs set_headers or remove_headers"},
		{"http_header", plugins.Params{"set_headers": map[string]any{"X A": "1"}}, prx, `params.set_headers: "X A": want a header name`},
		{"http_header", plugins.Params{"set_headers": map[string]any{"X-A": int64(1)}}, prx, `params.set_headers: "X-A": want a header name and a one-line string value`},
		{"http_header", plugins.Params{"remove_headers": []any{"Bad:Name"}}, prx, "params.remove_headers: Bad:Name is not a header name"},
		{"http_abort", plugins.Params{"mode": "netem"}, plugins.Params{"name": "api", "proxy": "127.0.0.1:1"}, "params.mode: http_abort is done by the proxy only"},
		{"http_delay", plugins.Params{"delay": "1s"}, plugins.Params{"name": "api"}, "target.proxy: http_delay needs the control address"},
	} {
		err := f.Validate(ctx, tc.action, tc.params, tc.sel)
		if tc.want == "" {
			assert.NoError(t, err, "%s %v", tc.action, tc.params)
			continue
		}
		require.Error(t, err, "%s %v", tc.action, tc.params)
		assert.ErrorIs(t, err, plugins.ErrInvalidParams)
		assert.Contains(t, err.Error(), tc.want)
	}
}

func TestHTTPActionsAreDescribed(t *testing.T) {
	d, err := (&Fault{}).Describe(context.Background())
	require.NoError(t, err)
	for _, name := range []string{"http_abort", "http_delay", "http_header"} {
		a, ok := d.Action(name)
		require.True(t, ok, name)
		assert.True(t, a.Reversible, name)
		var params []string
		for _, p := range a.Params {
			params = append(params, p.Name)
		}
		assert.Subset(t, params, []string{"mode", "percent", "method", "path_prefix", "path_regex", "header"}, name)
	}
}

// The HTTP actions through the plugin: inject on a real proxy in front of
// a real server, Status reads the proxy, revert from revert data alone.
func TestHTTPAbortInjectStatusRevert(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	p := tcpproxy.New("127.0.0.1:0", strings.TrimPrefix(up.URL, "http://"))
	require.NoError(t, p.Start(context.Background()))
	defer p.Close()
	srv := httptest.NewServer(tcpproxy.Handler(p))
	defer srv.Close()
	control := strings.TrimPrefix(srv.URL, "http://")

	ctx := context.Background()
	params := plugins.Params{"percent": int64(100), "method": "get", "path_prefix": "/pay", "status": int64(503), "body": "payment provider down"}
	targets, err := (&Fault{}).Targets(ctx, "http_abort", params, plugins.Params{"proxy": control})
	require.NoError(t, err)
	rd, err := (&Fault{}).Inject(ctx, plugins.InjectRequest{Action: "http_abort", Params: params, Target: targets[0]})
	require.NoError(t, err)
	st, err := (&Fault{}).Status(ctx, "http_abort", rd)
	require.NoError(t, err)
	assert.True(t, st.Active)
	assert.Contains(t, st.Detail, "1 of 1 toxics listed by proxy "+control)
	assert.Contains(t, st.Detail, ": abort 100% of GET /pay* with 503")

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + p.Addr() + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/pay/1")
	assert.Equal(t, 503, code)
	assert.Equal(t, "payment provider down", body)
	code, _ = get("/cart")
	assert.Equal(t, 200, code)

	require.NoError(t, (&Fault{}).Revert(ctx, "http_abort", rd))
	assert.Empty(t, p.Toxics())
	st, err = (&Fault{}).Status(ctx, "http_abort", rd)
	require.NoError(t, err)
	assert.False(t, st.Active, st.Detail)
	require.NoError(t, (&Fault{}).Revert(ctx, "http_abort", rd), "second revert is a no-op")
}

func TestDescribeHTTP(t *testing.T) {
	m := &tcpproxy.HTTPMatch{Percent: 50, Method: "GET", PathPrefix: "/pay"}
	for _, tc := range []struct {
		t    tcpproxy.Toxic
		want string
	}{
		{tcpproxy.Toxic{Kind: tcpproxy.KindHTTPAbort, Status: 503, Match: m}, "abort 50% of GET /pay* with 503"},
		{tcpproxy.Toxic{Kind: tcpproxy.KindHTTPDelay, Delay: 3e8, Match: m}, "delay 50% of GET /pay* by 300ms"},
		{tcpproxy.Toxic{Kind: tcpproxy.KindHTTPHeader, SetHeaders: map[string]string{"B": "1", "A": "2"}, RemoveHeaders: []string{"ETag"}, Match: m},
			"set A, set B, remove ETag on responses to 50% of GET /pay*"},
	} {
		assert.Equal(t, tc.want, describeToxic(tc.t))
	}
}
