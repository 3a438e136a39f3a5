package probes

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// badPromQL is what Prometheus 2.42 answers to `up{` (HTTP 400).
const badPromQL = `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:4: parse error: unexpected end of input inside braces"}`

func vector(series ...string) string {
	return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(series, ",") + `]}}`
}

func sample(labels, value string) string {
	return `{"metric":{` + labels + `},"value":[1700000000.123,"` + value + `"]}`
}

// promServer speaks the query endpoint of the Prometheus HTTP API: each
// query gets the answer in answers (200), or badPromQL (400) when it has none.
type promServer struct {
	*httptest.Server
	mu      sync.Mutex
	headers []http.Header // of each query request
}

func newPromServer(t *testing.T, answers map[string]string) *promServer {
	t.Helper()
	ps := &promServer{}
	ps.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ps.mu.Lock()
		ps.headers = append(ps.headers, r.Header.Clone())
		ps.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		body, ok := answers[r.Form.Get("query")]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			body = badPromQL
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(ps.Close)
	return ps
}

func buildProm(t *testing.T, s PrometheusSpec) *promProber {
	t.Helper()
	p, err := s.Build("prom")
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.(*promProber).Close() })
	return p.(*promProber)
}

func probeOnce(p Prober) Sample {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.Probe(ctx)
}

func TestPrometheusProbeExpect(t *testing.T) {
	ps := newPromServer(t, map[string]string{
		"ratio":  vector(sample(`"job":"checkout"`, "0.004")),
		"high":   vector(sample(`"job":"checkout"`, "0.2")),
		"up":     vector(sample(`"__name__":"up","job":"target"`, "1")),
		"down":   vector(sample(`"__name__":"up","job":"target"`, "0")),
		"none":   vector(),
		"nan":    vector(sample(`"job":"checkout"`, "NaN")),
		"two":    vector(sample(`"job":"b"`, "1"), sample(`"job":"a"`, "1")),
		"scalar": `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3"]}}`,
		"matrix": `{"status":"success","data":{"resultType":"matrix","result":[]}}`,
	})
	for _, tc := range []struct {
		query, expect string
		ok            bool
		value         float64
		err           string
	}{
		{"ratio", "< 0.01", true, 0.004, ""},
		{"high", "< 0.01", false, 0.2, `{job="checkout"} is 0.2, want < 0.01`},
		{"high", "<= 0.2", true, 0.2, ""},
		{"high", ">0.3", false, 0.2, `{job="checkout"} is 0.2, want > 0.3`},
		{"up", "== 1", true, 1, ""},
		{"down", "== 1", false, 0, `up{job="target"} is 0, want == 1`},
		{"down", "!= 0", false, 0, `up{job="target"} is 0, want != 0`},
		{"up", ">= 2", false, 1, `up{job="target"} is 1, want >= 2`},
		{"scalar", ">= 2", true, 3, ""},
		{"none", "== 1", false, 0, "no series, want one == 1"},
		{"nan", "!= 0", false, 0, `{job="checkout"} is NaN, want != 0`},
		{"two", "== 1", false, 2, `2 series, expect "== 1" needs one: {job="a"}, {job="b"}`},
		{"two", "non_empty", true, 2, ""},
		{"none", "non_empty", false, 0, "no series, want non_empty"},
		{"none", "empty", true, 0, ""},
		{"two", "empty", false, 2, "2 series, want empty"},
		{"matrix", "empty", false, 0, "the result is a matrix; the probe needs an instant vector or a scalar"},
	} {
		t.Run(tc.query+" "+tc.expect, func(t *testing.T) {
			s := probeOnce(buildProm(t, PrometheusSpec{URL: ps.URL, Query: tc.query, Expect: tc.expect}))
			assert.Equal(t, tc.ok, s.OK, s.Err)
			if tc.query == "nan" {
				assert.True(t, s.Value != s.Value, "value %v, want NaN", s.Value)
			} else {
				assert.Equal(t, tc.value, s.Value)
			}
			assert.Equal(t, tc.err, s.Err)
			assert.Equal(t, "prom", s.Probe)
		})
	}
}

func TestParseExpect(t *testing.T) {
	for in, want := range map[string]expectation{
		"< 0.01":    {op: "<", threshold: 0.01},
		"<=5":       {op: "<=", threshold: 5},
		" >= 2 ":    {op: ">=", threshold: 2},
		"== 1":      {op: "==", threshold: 1},
		"!= 0":      {op: "!=", threshold: 0},
		"> -1e3":    {op: ">", threshold: -1000},
		"non_empty": {op: "non_empty"},
		"empty":     {op: "empty"},
	} {
		got, err := parseExpect(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, got, in)
		}
	}
	for in, msg := range map[string]string{
		"":         `required: a comparison such as "< 0.01" or "== 1", or "non_empty" or "empty"`,
		"< ":       `"<": "" is not a number`,
		"< x":      `"< x": "x" is not a number`,
		"== NaN":   `"== NaN": "NaN" is not a number`,
		"= 1":      `"= 1": want a comparison (<, <=, >, >=, ==, !=) and a number, such as "< 0.01", or "non_empty" or "empty"`,
		"nonempty": `"nonempty": want a comparison (<, <=, >, >=, ==, !=) and a number, such as "< 0.01", or "non_empty" or "empty"`,
	} {
		_, err := parseExpect(in)
		if assert.Error(t, err, in) {
			assert.Equal(t, msg, err.Error(), in)
		}
	}
}

func TestPrometheusProbeUnreachable(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		s := probeOnce(buildProm(t, PrometheusSpec{URL: "http://" + closedPort(t), Query: "up", Expect: "== 1"}))
		assert.False(t, s.OK)
		assert.True(t, s.Unmeasured)
		assert.Regexp(t, `^prometheus unreachable: .*connection refused`, s.Err)
	})
	t.Run("a proxy's 502", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		}))
		t.Cleanup(srv.Close)
		s := probeOnce(buildProm(t, PrometheusSpec{URL: srv.URL, Query: "up", Expect: "== 1"}))
		assert.False(t, s.OK)
		assert.Equal(t, "prometheus unreachable: server error: 502", s.Err)
	})
	t.Run("timed out", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		p := buildProm(t, PrometheusSpec{URL: srv.URL, Query: "up", Expect: "== 1"})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		s := p.Probe(ctx)
		assert.False(t, s.OK)
		assert.True(t, strings.HasPrefix(s.Err, "prometheus unreachable: timed out"), s.Err)
	})
	t.Run("preflight does not fail on it", func(t *testing.T) {
		p := buildProm(t, PrometheusSpec{URL: "http://" + closedPort(t), Query: "up", Expect: "== 1"})
		assert.NoError(t, p.Preflight(context.Background()))
	})
}

// A server that refuses the request (401, 403, 404) measured nothing, and
// preflight (so validate --online) names the key to fix.
func TestPrometheusProbeRefused(t *testing.T) {
	token := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(token, []byte("t0k3n\n"), 0o600))
	tests := []struct {
		name      string
		code      int
		tokenFile string
		field     string
		msg       string
	}{
		{"no credentials", http.StatusUnauthorized, "", "bearer_token_file", "prometheus answered 401 Unauthorized: the server wants credentials: give a bearer_token_file"},
		{"a token it does not take", http.StatusForbidden, token, "bearer_token_file", "prometheus answered 403 Forbidden: does the server accept this token?"},
		{"not its API", http.StatusNotFound, "", "url", "prometheus answered 404 Not Found: is this Prometheus's base URL (the API is at URL/api/v1/query)?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "<html>no</html>", tt.code)
			}))
			t.Cleanup(srv.Close)
			p := buildProm(t, PrometheusSpec{URL: srv.URL, Query: "up", Expect: "== 1", BearerTokenFile: tt.tokenFile})
			s := probeOnce(p)
			assert.False(t, s.OK)
			assert.True(t, s.Unmeasured, "a refused query measured the service: %+v", s)
			assert.Equal(t, fmt.Sprintf("prometheus refused the query: %d %s", tt.code, http.StatusText(tt.code)), s.Err)
			assert.Equal(t, FieldError{Field: tt.field, Msg: tt.msg}, p.Preflight(context.Background()))
		})
	}
}

func TestPrometheusProbeBadPromQL(t *testing.T) {
	ps := newPromServer(t, map[string]string{"up": vector(sample(`"job":"a"`, "1"))})
	p := buildProm(t, PrometheusSpec{URL: ps.URL, Query: "up{", Expect: "== 1"})

	s := probeOnce(p)
	assert.False(t, s.OK)
	assert.Equal(t, `query rejected by prometheus: invalid parameter "query": 1:4: parse error: unexpected end of input inside braces`, s.Err)

	err := p.Preflight(context.Background())
	var fe FieldError
	require.True(t, errors.As(err, &fe), "preflight error %v is not a FieldError", err)
	assert.Equal(t, FieldError{Field: "query", Msg: `invalid parameter "query": 1:4: parse error: unexpected end of input inside braces`}, fe)

	assert.NoError(t, buildProm(t, PrometheusSpec{URL: ps.URL, Query: "up", Expect: "== 1"}).Preflight(context.Background()))
}

func TestPrometheusPreflightResultType(t *testing.T) {
	ps := newPromServer(t, map[string]string{"up[1m]": `{"status":"success","data":{"resultType":"matrix","result":[]}}`})
	err := buildProm(t, PrometheusSpec{URL: ps.URL, Query: "up[1m]", Expect: "non_empty"}).Preflight(context.Background())
	assert.Equal(t, FieldError{Field: "query", Msg: "the result is a matrix; the probe needs an instant vector or a scalar"}, err)
}

func TestPrometheusProbeHeadersAndToken(t *testing.T) {
	ps := newPromServer(t, map[string]string{"up": vector(sample(`"job":"a"`, "1"))})
	token := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(token, []byte("s3cret\n"), 0o600))
	p := buildProm(t, PrometheusSpec{URL: ps.URL, Query: "up", Expect: "== 1", BearerTokenFile: token, Headers: map[string]string{"X-Scope-OrgID": "team-a"}})

	s := probeOnce(p)
	require.True(t, s.OK, s.Err)
	// The token is read at each attempt: a rotated one is sent next time.
	require.NoError(t, os.WriteFile(token, []byte("rotated"), 0o600))
	s = probeOnce(p)
	require.True(t, s.OK, s.Err)
	require.Len(t, ps.headers, 2)
	assert.Equal(t, "Bearer s3cret", ps.headers[0].Get("Authorization"))
	assert.Equal(t, "team-a", ps.headers[0].Get("X-Scope-OrgID"))
	assert.Equal(t, "Bearer rotated", ps.headers[1].Get("Authorization"))

	require.NoError(t, os.Remove(token))
	s = probeOnce(p)
	assert.False(t, s.OK)
	assert.Equal(t, "bearer_token_file: "+token+": no such file or directory", s.Err)
	assert.Len(t, ps.headers, 2, "a request went out without its token")
}

func TestPrometheusProbeTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, vector(sample(`"job":"a"`, "1")))
	}))
	t.Cleanup(srv.Close)

	s := probeOnce(buildProm(t, PrometheusSpec{URL: srv.URL, Query: "up", Expect: "== 1"}))
	assert.False(t, s.OK)
	assert.Contains(t, s.Err, "prometheus unreachable: tls: failed to verify certificate")

	s = probeOnce(buildProm(t, PrometheusSpec{URL: srv.URL, Query: "up", Expect: "== 1", TLSSkipVerify: true}))
	assert.True(t, s.OK, s.Err)

	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pemCert(srv), 0o600))
	s = probeOnce(buildProm(t, PrometheusSpec{URL: srv.URL, Query: "up", Expect: "== 1", TLSCA: ca}))
	assert.True(t, s.OK, s.Err)
}

func TestPrometheusValidate(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(token, []byte("t"), 0o600))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	good := PrometheusSpec{URL: "http://127.0.0.1:9090", Query: "up", Expect: "== 1"}
	with := func(f func(*PrometheusSpec)) PrometheusSpec {
		s := good
		f(&s)
		return s
	}
	assert.Empty(t, (&good).Validate())
	ok := with(func(s *PrometheusSpec) {
		s.URL, s.BearerTokenFile, s.TLSSkipVerify = "https://prom.internal/prometheus", token, true
	})
	assert.Empty(t, ok.Validate())

	for name, tc := range map[string]struct {
		spec PrometheusSpec
		want []FieldError
	}{
		"empty": {PrometheusSpec{}, []FieldError{
			{"url", `required (the Prometheus server, such as "http://127.0.0.1:9090")`},
			{"query", `required (PromQL, such as 'up{job="checkout"}')`},
			{"expect", `required: a comparison such as "< 0.01" or "== 1", or "non_empty" or "empty"`},
		}},
		"url does not parse": {with(func(s *PrometheusSpec) { s.URL = "http://[::1" }), []FieldError{{"url", `not a URL: missing ']' in host`}}},
		"url scheme":         {with(func(s *PrometheusSpec) { s.URL = "prom:9090" }), []FieldError{{"url", `scheme must be http or https, not "prom"`}}},
		"url query":          {with(func(s *PrometheusSpec) { s.URL = "http://p:9090/api/v1/query?query=up" }), []FieldError{{"url", "the server's address only, without ?query or #fragment: the probe adds /api/v1/query"}}},
		"bad expect":         {with(func(s *PrometheusSpec) { s.Expect = "below 1" }), []FieldError{{"expect", `"below 1": want a comparison (<, <=, >, >=, ==, !=) and a number, such as "< 0.01", or "non_empty" or "empty"`}}},
		"token file missing": {with(func(s *PrometheusSpec) { s.BearerTokenFile = filepath.Join(dir, "nope") }), []FieldError{{"bearer_token_file", filepath.Join(dir, "nope") + ": no such file or directory"}}},
		"token file empty":   {with(func(s *PrometheusSpec) { s.BearerTokenFile = empty }), []FieldError{{"bearer_token_file", empty + ": empty"}}},
		"inline token":       {with(func(s *PrometheusSpec) { s.Headers = map[string]string{"authorization": "Bearer x"} }), []FieldError{{"headers.authorization", "no credentials inline in a scenario: put the token in a file and name it in bearer_token_file"}}},
		"ca not PEM":         {with(func(s *PrometheusSpec) { s.URL, s.TLSCA = "https://p", token }), []FieldError{{"tls_ca", token + ": no PEM certificate in it"}}},
		"tls on http":        {with(func(s *PrometheusSpec) { s.TLSSkipVerify = true }), []FieldError{{"tls_skip_verify", "only for an https url"}}},
	} {
		assert.Equal(t, tc.want, tc.spec.Validate(), name)
	}

	_, err := (&PrometheusSpec{}).Build("p")
	var ie *InvalidError
	assert.True(t, errors.As(err, &ie))
}

// pemCert is the test server's certificate in PEM, to trust as a CA.
func pemCert(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func TestQueryTimeout(t *testing.T) {
	for in, want := range map[time.Duration]string{
		9999995872 * time.Nanosecond: "9s",
		time.Second:                  "1s",
		299999 * time.Microsecond:    "299ms",
		999 * time.Microsecond:       "0s",
	} {
		assert.Equal(t, want, queryTimeout(in).String(), in)
	}
}
