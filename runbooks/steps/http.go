package steps

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

func init() {
	register(Kind{
		Name: KindHTTP,
		Keys: []string{"method", "url", "headers", "body", "expect_status", "body_regex"},
		Spec: httpStep{},
	})
}

// client is shared by http steps; each request is bounded by its step's
// context.
var client = &http.Client{}

// httpStep sends one request and checks its status and body.
type httpStep struct{}

var _ Spec = httpStep{}

func (httpStep) Validate(st *Step, _ Refs) []FieldError {
	var errs []FieldError
	bad := func(key, format string, args ...any) {
		errs = append(errs, FieldError{Field: key, Msg: fmt.Sprintf(format, args...)})
	}
	switch u, err := url.Parse(st.URL); {
	case st.URL == "":
		bad("url", "required")
	case err != nil:
		bad("url", "%v", err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		bad("url", "%q must be an absolute http:// or https:// URL", st.URL)
	}
	if st.Method == "" {
		st.Method = http.MethodGet
	}
	if len(st.ExpectStatus) == 0 {
		st.ExpectStatus = []int{http.StatusOK}
	}
	for _, c := range st.ExpectStatus {
		if c < 100 || c > 599 {
			bad("expect_status", "must be HTTP status codes, got %d", c)
		}
	}
	if st.BodyRegex != "" {
		if _, err := regexp.Compile(st.BodyRegex); err != nil {
			bad("body_regex", "bad regexp: %v", err)
		}
	}
	return errs
}

func (httpStep) Run(ctx context.Context, st Step, _ Env) (Outcome, error) {
	var body io.Reader
	if st.Body != "" {
		body = strings.NewReader(st.Body)
	}
	req, err := http.NewRequestWithContext(ctx, st.Method, st.URL, body)
	if err != nil {
		return Outcome{}, fmt.Errorf("request: %w", err)
	}
	for k, v := range st.Headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			req.Host = v // net/http sends req.Host, not a Host header
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return Outcome{}, fmt.Errorf("%s %s: %w", st.Method, st.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
	out := Outcome{Detail: fmt.Sprintf("HTTP %d", resp.StatusCode), Output: tail(string(b), outputTail)}
	if err != nil {
		return out, fmt.Errorf("%s %s: read body: %w", st.Method, st.URL, err)
	}
	if !slices.Contains(st.ExpectStatus, resp.StatusCode) {
		return out, fmt.Errorf("%s %s: status %d, want %v", st.Method, st.URL, resp.StatusCode, st.ExpectStatus)
	}
	if st.BodyRegex != "" {
		re, err := regexp.Compile(st.BodyRegex)
		if err != nil {
			return out, fmt.Errorf("body_regex: %w", err)
		}
		if !re.Match(b) {
			return out, fmt.Errorf("%s %s: body does not match %q", st.Method, st.URL, st.BodyRegex)
		}
	}
	return out, nil
}
