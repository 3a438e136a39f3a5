package runbooks

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/chaosctl/chaosctl/scenarios"
)

// client is shared by http steps; each request is bounded by its step's
// context.
var client = &http.Client{}

// runHTTP sends one request and checks its status and body.
func runHTTP(ctx context.Context, st scenarios.Step, _ *env) (outcome, error) {
	var body io.Reader
	if st.Body != "" {
		body = strings.NewReader(st.Body)
	}
	req, err := http.NewRequestWithContext(ctx, st.Method, st.URL, body)
	if err != nil {
		return outcome{}, fmt.Errorf("request: %w", err)
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
		return outcome{}, fmt.Errorf("%s %s: %w", st.Method, st.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
	out := outcome{detail: fmt.Sprintf("HTTP %d", resp.StatusCode), output: tail(string(b), 2048)}
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
