package probes

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/PaesslerAG/gval"
	"github.com/PaesslerAG/jsonpath"
)

func init() {
	register(Kind{
		Name:    "http",
		Doc:     "HTTP(S) request; ok when the status, body regexp and JSON path assertions hold. Value: status code.",
		NewSpec: func() Spec { return &HTTPSpec{} },
	})
}

// maxBody is how much of a response body is read for the assertions.
const maxBody = 1 << 20

// HTTPSpec is the "http" probe: one request per attempt.
type HTTPSpec struct {
	URL             string            `toml:"url"`              // required, http or https
	Method          string            `toml:"method"`           // default GET
	Headers         map[string]string `toml:"headers"`          // "Host" sets the request's host
	Body            string            `toml:"body"`             // request body
	ExpectStatus    []int             `toml:"expect_status"`    // default: any 2xx
	BodyRegex       string            `toml:"body_regex"`       // Go regexp matched against the first 1 MiB
	JSONPath        string            `toml:"json_path"`        // alone: must select something
	JSONEquals      any               `toml:"json_equals"`      // string, number or bool the path must equal
	TLSSkipVerify   bool              `toml:"tls_skip_verify"`  // accept any server certificate
	FollowRedirects *bool             `toml:"follow_redirects"` // default true
}

var httpMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true, http.MethodTrace: true,
}

// Validate reports every problem with the spec.
func (s *HTTPSpec) Validate() []FieldError {
	var errs []FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if s.URL == "" {
		add("url", "required")
	} else if u, err := url.Parse(s.URL); err != nil {
		add("url", "not a URL: %v", errors.Unwrap(err))
	} else if u.Scheme != "http" && u.Scheme != "https" {
		add("url", "scheme must be http or https, not %q", u.Scheme)
	} else if u.Host == "" {
		add("url", "no host in %q", s.URL)
	}
	if s.Method != "" && !httpMethods[strings.ToUpper(s.Method)] {
		add("method", "unknown method %q (want GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or TRACE)", s.Method)
	}
	for i, c := range s.ExpectStatus {
		if c < 100 || c > 599 {
			add("expect_status", "[%d] %d is not an HTTP status (100..599)", i, c)
		}
	}
	if s.BodyRegex != "" {
		if _, err := regexp.Compile(s.BodyRegex); err != nil {
			add("body_regex", "bad regexp: %v", err)
		}
	}
	if s.JSONPath != "" {
		if _, err := jsonpath.New(s.JSONPath); err != nil {
			add("json_path", "bad JSON path: %v", err)
		}
	}
	if s.JSONEquals != nil {
		if s.JSONPath == "" {
			add("json_equals", "needs json_path")
		}
		switch s.JSONEquals.(type) {
		case string, bool, int64, float64:
		default:
			add("json_equals", "must be a string, number or boolean, not %T", s.JSONEquals)
		}
	}
	return errs
}

// Build returns the prober; it owns one http.Client whose keep-alive
// connections are reused across attempts.
func (s *HTTPSpec) Build(name string) (Prober, error) {
	if err := validated(name, s.Validate()); err != nil {
		return nil, err
	}
	p := &httpProber{name: name, spec: *s, method: http.MethodGet}
	if s.Method != "" {
		p.method = strings.ToUpper(s.Method)
	}
	if s.BodyRegex != "" {
		p.bodyRe = regexp.MustCompile(s.BodyRegex) // validated above
	}
	if s.JSONPath != "" {
		p.path, _ = jsonpath.New(s.JSONPath) // validated above
	}
	p.headers = make(http.Header, len(s.Headers))
	for k, v := range s.Headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			p.host = v
			continue
		}
		p.headers.Set(k, v)
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	if s.TLSSkipVerify {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the scenario
	}
	p.client = &http.Client{Transport: tr}
	if s.FollowRedirects != nil && !*s.FollowRedirects {
		p.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return p, nil
}

type httpProber struct {
	name    string
	spec    HTTPSpec
	method  string
	headers http.Header
	host    string
	bodyRe  *regexp.Regexp
	path    gval.Evaluable
	client  *http.Client
}

var (
	_ Prober    = (*httpProber)(nil)
	_ io.Closer = (*httpProber)(nil)
)

func (p *httpProber) Probe(ctx context.Context) Sample {
	return measure(ctx, p.name, p.attempt)
}

// Close drops the prober's idle connections.
func (p *httpProber) Close() error {
	p.client.CloseIdleConnections()
	return nil
}

func (p *httpProber) attempt(ctx context.Context) (float64, error) {
	var body io.Reader
	if p.spec.Body != "" {
		body = strings.NewReader(p.spec.Body)
	}
	req, err := http.NewRequestWithContext(ctx, p.method, p.spec.URL, body)
	if err != nil {
		return 0, err
	}
	for k, vs := range p.headers {
		req.Header[k] = vs // read-only use: the transport does not modify them
	}
	if p.host != "" {
		req.Host = p.host
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() {
		// Drain (bounded) so the connection goes back to the pool.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		_ = resp.Body.Close()
	}()
	code := float64(resp.StatusCode)

	if !p.statusOK(resp.StatusCode) {
		return code, fmt.Errorf("status %d, want %s", resp.StatusCode, p.wantStatus())
	}
	if p.bodyRe == nil && p.path == nil {
		return code, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return code, fmt.Errorf("read body: %w", err)
	}
	if p.bodyRe != nil && !p.bodyRe.Match(b) {
		return code, fmt.Errorf("body does not match %q", p.spec.BodyRegex)
	}
	if p.path != nil {
		if err := p.checkJSON(ctx, b); err != nil {
			return code, err
		}
	}
	return code, nil
}

func (p *httpProber) statusOK(code int) bool {
	if len(p.spec.ExpectStatus) == 0 {
		return code >= 200 && code <= 299
	}
	for _, c := range p.spec.ExpectStatus {
		if c == code {
			return true
		}
	}
	return false
}

func (p *httpProber) wantStatus() string {
	if len(p.spec.ExpectStatus) == 0 {
		return "2xx"
	}
	return strings.Trim(fmt.Sprint(p.spec.ExpectStatus), "[]")
}

func (p *httpProber) checkJSON(ctx context.Context, b []byte) error {
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	got, err := p.path(ctx, doc)
	if err != nil {
		return fmt.Errorf("json_path %s: not found", p.spec.JSONPath)
	}
	if p.spec.JSONEquals == nil {
		return nil
	}
	if !jsonEqual(got, p.spec.JSONEquals) {
		return fmt.Errorf("json_path %s is %s, want %s", p.spec.JSONPath, jsonText(got), jsonText(p.spec.JSONEquals))
	}
	return nil
}

// jsonEqual compares a decoded JSON value with the TOML json_equals value:
// numbers as numbers, booleans as booleans, and a string either as a JSON
// string or as the JSON text of any other value (so "null" matches null).
func jsonEqual(got, want any) bool {
	switch w := want.(type) {
	case int64:
		g, ok := got.(float64)
		return ok && g == float64(w)
	case float64:
		g, ok := got.(float64)
		return ok && g == w
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	case string:
		if g, ok := got.(string); ok {
			return g == w
		}
		return jsonText(got) == w
	}
	return false
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 80 {
		b = append(bytes.Clone(b[:77]), "..."...)
	}
	return string(b)
}
