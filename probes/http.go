package probes

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"strings"
	"time"

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
	if msg := checkHTTPURL(s.URL, "required"); msg != "" {
		add("url", "%s", msg)
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

// Build returns the prober. It owns one net/http Transport (keep-alive,
// HTTP/2 where the server offers it, proxies from the environment), so
// its connections are kept alive across attempts and never shared with
// another probe's.
func (s *HTTPSpec) Build(name string) (Prober, error) {
	if err := validated(name, s.Validate()); err != nil {
		return nil, err
	}
	p := &httpProber{name: name, spec: *s}
	if s.BodyRegex != "" {
		p.bodyRe = regexp.MustCompile(s.BodyRegex) // validated above
	}
	if s.JSONPath != "" {
		p.path, _ = jsonpath.New(s.JSONPath) // validated above
	}

	// The request is the same every attempt: build it once. Attempts through
	// the client use shallow copies of it with their context and a fresh body.
	method := http.MethodGet
	if s.Method != "" {
		method = strings.ToUpper(s.Method)
	}
	req, err := http.NewRequest(method, s.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("probe %s: %w", name, err) // validated above: not expected
	}
	for k, v := range s.Headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if s.Body != "" {
		body := s.Body
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	}
	p.req = req

	var tlsConfig *tls.Config
	if s.TLSSkipVerify {
		tlsConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the scenario
	}
	p.tr = newTransport(tlsConfig)
	p.client = &http.Client{Transport: p.tr}
	if s.FollowRedirects != nil && !*s.FollowRedirects {
		p.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return p, nil
}

// newTransport is one probe's Transport: net/http's own, tuned for one
// host probed at a steady rate. Attempts overlap when the target is slow,
// so a few idle connections are kept; an idle one is closed after a while
// rather than held for ever.
func newTransport(tlsConfig *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second, // the attempt's own timeout is shorter and wins
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConns:          8,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

type httpProber struct {
	name   string
	spec   HTTPSpec
	req    *http.Request // read-only template
	bodyRe *regexp.Regexp
	path   gval.Evaluable
	tr     *http.Transport
	client *http.Client // on tr
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

// send makes one attempt from the request template. net/http retries a
// GET whose kept-alive connection the server had just closed; a POST it
// does not, and the attempt would fail though the target is up. So an
// attempt that failed on a reused connection before any byte of answer
// came back is made once more, on a new connection: it never reached the
// target's handler.
func (p *httpProber) send(ctx context.Context) (*http.Response, error) {
	for try := 0; ; try++ {
		var reused, answered bool
		trace := &httptrace.ClientTrace{
			GotConn:              func(ci httptrace.GotConnInfo) { reused = ci.Reused },
			GotFirstResponseByte: func() { answered = true },
		}
		req := p.req.WithContext(httptrace.WithClientTrace(ctx, trace))
		if req.GetBody != nil {
			req.Body, _ = req.GetBody()
		}
		resp, err := p.client.Do(req)
		if err == nil || try > 0 || !reused || answered || ctx.Err() != nil {
			return resp, err
		}
	}
}

func (p *httpProber) attempt(ctx context.Context) (float64, error) {
	resp, err := p.send(ctx)
	if err != nil {
		return 0, err
	}
	defer discard(resp)
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

// discard drains (bounded) and closes resp's body, so that its connection
// goes back to the pool.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	_ = resp.Body.Close()
}

func (p *httpProber) statusOK(code int) bool { return expectStatus(p.spec.ExpectStatus).ok(code) }
func (p *httpProber) wantStatus() string     { return expectStatus(p.spec.ExpectStatus).String() }

// checkHTTPURL is what is wrong with an absolute http(s) URL key, or "";
// missing is the message for an empty one.
func checkHTTPURL(raw, missing string) string {
	if raw == "" {
		return missing
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Sprintf("not a URL: %v", errors.Unwrap(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("scheme must be http or https, not %q", u.Scheme)
	case u.Host == "":
		return fmt.Sprintf("no host in %q", raw)
	}
	return ""
}

// expectStatus is an HTTP probe's expected status codes (the http and
// load kinds): any 2xx when empty.
type expectStatus []int

func (e expectStatus) ok(code int) bool {
	if len(e) == 0 {
		return code >= 200 && code <= 299
	}
	for _, c := range e {
		if c == code {
			return true
		}
	}
	return false
}

func (e expectStatus) String() string {
	if len(e) == 0 {
		return "2xx"
	}
	return strings.Trim(fmt.Sprint([]int(e)), "[]")
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
