package probes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

func init() {
	register(Kind{
		Name:    "prometheus",
		Doc:     "PromQL instant query against a Prometheus HTTP API; ok when the result meets expect (\"< 0.01\", \"non_empty\", ...). Value: the result (one series) or the number of series.",
		NewSpec: func() Spec { return &PrometheusSpec{} },
	})
}

// PrometheusSpec is the "prometheus" probe: one instant query per attempt,
// evaluated at the attempt's start.
type PrometheusSpec struct {
	URL             string            `toml:"url"`               // required: the server, e.g. http://prometheus:9090
	Query           string            `toml:"query"`             // required: PromQL, an instant vector or a scalar
	Expect          string            `toml:"expect"`            // required: "< 0.01", ">= 2", "== 1", "!= 0", "non_empty", "empty"
	Headers         map[string]string `toml:"headers"`           // sent with every query; not Authorization
	BearerTokenFile string            `toml:"bearer_token_file"` // file holding a bearer token, read at each attempt
	TLSCA           string            `toml:"tls_ca"`            // PEM file of CAs for an https url
	TLSSkipVerify   bool              `toml:"tls_skip_verify"`   // accept any server certificate
}

// ErrPrometheusUnreachable is why a sample failed when no answer about
// the query came back from Prometheus (refused, timed out, a 5xx, a proxy's
// page): the service was not measured, which is not the service failing.
var ErrPrometheusUnreachable = errors.New("prometheus unreachable")

// ErrPrometheusRefused: the server (or a proxy in front of it) refused the
// probe's request (401, 403, 404): a token, header or URL is wrong. The
// service was not measured either; preflight and validate --online say
// which key to fix.
var ErrPrometheusRefused = errors.New("prometheus refused the query")

// expectation is a parsed expect: a comparison with a threshold, or a
// test of whether the result is empty.
type expectation struct {
	op        string // "<", "<=", ">", ">=", "==", "!=", "empty", "non_empty"
	threshold float64
}

// comparisons, longest first so that "<=" is not read as "<".
var comparisons = []string{"<=", ">=", "==", "!=", "<", ">"}

func parseExpect(s string) (expectation, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return expectation{}, errors.New(`required: a comparison such as "< 0.01" or "== 1", or "non_empty" or "empty"`)
	case "empty", "non_empty":
		return expectation{op: s}, nil
	}
	for _, op := range comparisons {
		rest, ok := strings.CutPrefix(s, op)
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		v, err := strconv.ParseFloat(rest, 64)
		if err != nil || math.IsNaN(v) {
			return expectation{}, fmt.Errorf("%q: %q is not a number", s, rest)
		}
		return expectation{op: op, threshold: v}, nil
	}
	return expectation{}, fmt.Errorf(`%q: want a comparison (<, <=, >, >=, ==, !=) and a number, such as "< 0.01", or "non_empty" or "empty"`, s)
}

// holds reports whether v meets the comparison. NaN (0/0: a ratio with no
// traffic) meets none: nothing was measured.
func (e expectation) holds(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	switch e.op {
	case "<":
		return v < e.threshold
	case "<=":
		return v <= e.threshold
	case ">":
		return v > e.threshold
	case ">=":
		return v >= e.threshold
	case "==":
		return v == e.threshold
	case "!=":
		return v != e.threshold
	}
	return false
}

func (e expectation) String() string {
	if e.op == "empty" || e.op == "non_empty" {
		return e.op
	}
	return e.op + " " + strconv.FormatFloat(e.threshold, 'g', -1, 64)
}

// Validate reports every problem with the spec.
func (s *PrometheusSpec) Validate() []FieldError {
	var errs []FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	https := false
	if msg := checkHTTPURL(s.URL, "required (the Prometheus server, such as \"http://127.0.0.1:9090\")"); msg != "" {
		add("url", "%s", msg)
	} else if u, _ := url.Parse(s.URL); u.RawQuery != "" || u.Fragment != "" {
		add("url", "the server's address only, without ?query or #fragment: the probe adds /api/v1/query")
	} else {
		https = u.Scheme == "https"
	}
	if strings.TrimSpace(s.Query) == "" {
		add("query", "required (PromQL, such as 'up{job=\"checkout\"}')")
	}
	if _, err := parseExpect(s.Expect); err != nil {
		add("expect", "%v", err)
	}
	for k := range s.Headers {
		if http.CanonicalHeaderKey(k) == "Authorization" {
			add("headers."+k, "no credentials inline in a scenario: put the token in a file and name it in bearer_token_file")
		}
	}
	if s.BearerTokenFile != "" {
		if _, err := readToken(s.BearerTokenFile); err != nil {
			add("bearer_token_file", "%v", err)
		}
	}
	if s.TLSCA != "" {
		if _, err := loadCA(s.TLSCA); err != nil {
			add("tls_ca", "%v", err)
		} else if s.URL != "" && !https {
			add("tls_ca", "only for an https url")
		}
	}
	if s.TLSSkipVerify && s.URL != "" && !https {
		add("tls_skip_verify", "only for an https url")
	}
	return errs
}

// readToken reads a bearer token file: one token, surrounding space trimmed.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return "", fmt.Errorf("%s: %v", path, pe.Err)
		}
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s: empty", path)
	}
	return tok, nil
}

func loadCA(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %v", path, pe.Err)
		}
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}

// Build returns the prober. It makes no request: a query Prometheus
// rejects is found by Preflight, which the engine calls before steady state.
func (s *PrometheusSpec) Build(name string) (Prober, error) {
	if err := validated(name, s.Validate()); err != nil {
		return nil, err
	}
	exp, _ := parseExpect(s.Expect) // validated above
	var tlsConfig *tls.Config
	if s.TLSCA != "" || s.TLSSkipVerify {
		tlsConfig = &tls.Config{InsecureSkipVerify: s.TLSSkipVerify} //nolint:gosec // asked for by the scenario
		if s.TLSCA != "" {
			pool, err := loadCA(s.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("probe %s: tls_ca: %w", name, err)
			}
			tlsConfig.RootCAs = pool
		}
	}
	tr := &promTransport{base: newTransport(tlsConfig), headers: http.Header{}, tokenFile: s.BearerTokenFile}
	for k, v := range s.Headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			tr.host = v
			continue
		}
		tr.headers.Set(k, v)
	}
	client, err := api.NewClient(api.Config{Address: s.URL, RoundTripper: tr})
	if err != nil {
		return nil, fmt.Errorf("probe %s: %w", name, err) // validated above: not expected
	}
	return &promProber{name: name, spec: *s, expect: exp, api: v1.NewAPI(client), tr: tr}, nil
}

// promTransport adds the spec's headers and the bearer token to each request.
type promTransport struct {
	base      *http.Transport
	headers   http.Header
	host      string
	tokenFile string
}

// tokenError is a bearer token file that could not be read at an attempt.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "bearer_token_file: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

func (t *promTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, vs := range t.headers {
		req.Header[k] = vs
	}
	if t.host != "" {
		req.Host = t.host
	}
	if t.tokenFile != "" {
		// Read at each attempt, so that a rotated token is picked up.
		tok, err := readToken(t.tokenFile)
		if err != nil {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, &tokenError{err}
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := t.base.RoundTrip(req)
	if err == nil {
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			_ = resp.Body.Close()
			return nil, &refusedError{code: resp.StatusCode, token: t.tokenFile != ""}
		}
	}
	return resp, err
}

// refusedError is an answer that says the request itself is wrong: not
// allowed (401, 403) or not there (404).
type refusedError struct {
	code  int
	token bool // a bearer token was sent
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("%d %s", e.code, http.StatusText(e.code))
}

// field is the key to fix.
func (e *refusedError) field() (string, string) {
	if e.code == http.StatusNotFound {
		return "url", "is this Prometheus's base URL (the API is at URL/api/v1/query)?"
	}
	if e.token {
		return "bearer_token_file", "does the server accept this token?"
	}
	return "bearer_token_file", "the server wants credentials: give a bearer_token_file"
}

type promProber struct {
	name   string
	spec   PrometheusSpec
	expect expectation
	api    v1.API
	tr     *promTransport
}

// Preflighter is an optional ability of a Prober: one check, before steady
// state, of what every sample depends on (a query the server must accept).
// An error means no sample could ever be ok; it wraps a FieldError naming
// the key at fault. A check that cannot be made (the server is unreachable)
// is not an error: the samples then say why they fail.
type Preflighter interface {
	Preflight(ctx context.Context) error
}

var (
	_ Prober      = (*promProber)(nil)
	_ Preflighter = (*promProber)(nil)
	_ io.Closer   = (*promProber)(nil)
)

// preflightTimeout bounds Preflight's one query.
const preflightTimeout = 10 * time.Second

// Probe is measure's work with the reason kept as attempt words it, so
// that a query that ran out of time reads "prometheus unreachable: timed
// out: ...": the service was not measured.
func (p *promProber) Probe(ctx context.Context) Sample {
	start := time.Now()
	v, err := p.attempt(ctx)
	s := Sample{Probe: p.name, Time: start, Latency: time.Since(start), OK: err == nil, Value: v}
	if err != nil {
		s.Err = err.Error()
		// Prometheus down is not the service down.
		s.Unmeasured = errors.Is(err, ErrPrometheusUnreachable) || errors.Is(err, ErrPrometheusRefused)
	}
	return s
}

// Close drops the prober's idle connections.
func (p *promProber) Close() error {
	p.tr.base.CloseIdleConnections()
	return nil
}

// Preflight runs the query once. A query Prometheus rejects (bad PromQL,
// one that cannot be evaluated) or whose result is not an instant vector
// or a scalar is an error on "query" with Prometheus's own message; a
// request the server refuses (401, 403: bearer_token_file; 404: url) is an
// error on the key to fix.
func (p *promProber) Preflight(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	res, err := p.query(ctx)
	if err != nil {
		var qe *queryError
		var re *refusedError
		switch {
		case errors.As(err, &qe):
			return FieldError{Field: "query", Msg: qe.msg}
		case errors.As(err, &re):
			field, hint := re.field()
			return FieldError{Field: field, Msg: fmt.Sprintf("prometheus answered %s: %s", re, hint)}
		}
		return nil // unreachable: the samples will say so
	}
	if _, err := resultValues(res); err != nil {
		return FieldError{Field: "query", Msg: err.Error()}
	}
	return nil
}

// queryError is Prometheus's answer that it will not evaluate the query.
type queryError struct{ msg string }

func (e *queryError) Error() string { return "query rejected by prometheus: " + e.msg }

// query makes one instant query at now, telling Prometheus the attempt's
// deadline so that it gives up on the query when the probe does.
func (p *promProber) query(ctx context.Context) (model.Value, error) {
	var opts []v1.Option
	if d, ok := ctx.Deadline(); ok {
		if left := queryTimeout(time.Until(d)); left > 0 {
			opts = append(opts, v1.WithTimeout(left))
		}
	}
	res, _, _, err := p.api.Query(ctx, p.spec.Query, time.Now(), opts...)
	if err == nil {
		return res, nil
	}
	var te *tokenError
	var re *refusedError
	var ae *v1.Error
	switch {
	case errors.As(err, &te):
		return nil, te
	case errors.As(err, &re):
		return nil, fmt.Errorf("%w: %w", ErrPrometheusRefused, re)
	case errors.As(err, &ae) && (ae.Type == v1.ErrBadData || ae.Type == v1.ErrExec):
		return nil, &queryError{msg: ae.Msg}
	case errors.As(err, &ae):
		return nil, fmt.Errorf("%w: %s", ErrPrometheusUnreachable, ae.Msg)
	}
	// reason drops the URL and words a timeout or a cancel.
	return nil, fmt.Errorf("%w: %s", ErrPrometheusUnreachable, reason(ctx, err))
}

// queryTimeout rounds left down so that the client writes it in a form
// every Prometheus 2.x parses: "300ms" or "9s", never "9.999s".
func queryTimeout(left time.Duration) time.Duration {
	if left >= time.Second {
		return left.Truncate(time.Second)
	}
	return left.Truncate(time.Millisecond)
}

func (p *promProber) attempt(ctx context.Context) (float64, error) {
	res, err := p.query(ctx)
	if err != nil {
		return 0, err
	}
	vals, err := resultValues(res)
	if err != nil {
		return 0, err
	}
	n := float64(len(vals))
	switch p.expect.op {
	case "empty":
		if len(vals) > 0 {
			return n, fmt.Errorf("%s, want empty", seriesCount(vals))
		}
		return 0, nil
	case "non_empty":
		if len(vals) == 0 {
			return 0, errors.New("no series, want non_empty")
		}
		return n, nil
	}
	switch len(vals) {
	case 0:
		return 0, fmt.Errorf("no series, want one %s", p.expect)
	case 1:
	default:
		return n, fmt.Errorf("%s, expect %q needs one: %s", seriesCount(vals), p.spec.Expect, seriesNames(vals))
	}
	v := vals[0].v
	if !p.expect.holds(v) {
		return v, fmt.Errorf("%s is %s, want %s", vals[0].name, formatValue(v), p.expect)
	}
	return v, nil
}

// series is one value of a result and what names it.
type series struct {
	name string // the labels, {job="a"}; "scalar" for a scalar
	v    float64
}

// resultValues is the result's values: an instant vector's samples or a
// scalar. A range vector, a string or a histogram is an error.
func resultValues(res model.Value) ([]series, error) {
	switch r := res.(type) {
	case model.Vector:
		out := make([]series, 0, len(r))
		for _, s := range r {
			if s.Histogram != nil {
				return nil, fmt.Errorf("%s is a native histogram; query a number from it (histogram_quantile, histogram_count, ...)", s.Metric)
			}
			out = append(out, series{name: s.Metric.String(), v: float64(s.Value)})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
		return out, nil
	case *model.Scalar:
		return []series{{name: "scalar", v: float64(r.Value)}}, nil
	case nil:
		return nil, errors.New("prometheus returned no result")
	}
	return nil, fmt.Errorf("the result is a %s; the probe needs an instant vector or a scalar", res.Type())
}

func seriesCount(vals []series) string {
	if len(vals) == 1 {
		return "1 series"
	}
	return fmt.Sprintf("%d series", len(vals))
}

// seriesNames lists the first few series of a result.
func seriesNames(vals []series) string {
	const most = 5
	names := make([]string, 0, most)
	for i, s := range vals {
		if i == most {
			names = append(names, fmt.Sprintf("and %d more", len(vals)-most))
			break
		}
		names = append(names, s.name)
	}
	return strings.Join(names, ", ")
}

func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
