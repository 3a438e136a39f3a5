package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/daemon/store"
	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/internal/httpapi"
	"github.com/chaosctl/chaosctl/journal"
)

// ClientOptions say where the daemon is: a unix socket (the default), or a
// TCP address ("host:port", "http://host:port", "https://host:port") with
// a bearer token file and, for a self-signed certificate, a CA file.
type ClientOptions struct {
	Socket    string
	Addr      string
	TokenFile string
	CAFile    string
}

// Client talks to a daemon's API.
type Client struct {
	base  string
	hc    *http.Client
	token string
	where string
}

// APIError is an error response from the daemon.
type APIError struct {
	Status int
	ErrorResponse
}

func (e *APIError) Error() string { return e.ErrorResponse.Error }

// Is lets errors.Is(err, api.ErrHalted) and the like work on what the
// daemon answered.
func (e *APIError) Is(target error) bool {
	s, ok := codes[e.Code]
	return ok && s == target
}

// NewClient builds a client; it does not connect.
func NewClient(o ClientOptions) (*Client, error) {
	if o.Addr == "" {
		sock := o.Socket
		if sock == "" {
			sock = DefaultSocket()
		}
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}
		return &Client{base: "http://chaosctl", hc: &http.Client{Transport: tr}, where: sock}, nil
	}
	base := o.Addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--addr %q: want host:port, http://host:port or https://host:port", o.Addr)
	}
	if o.TokenFile != "" && u.Scheme == "http" && !Loopback(u.Hostname()) {
		return nil, fmt.Errorf("%w: --addr %s is plain http to %s, which is not a loopback address: use https://%s (and --ca-file for a self-signed certificate)",
			ErrTokenInClear, o.Addr, u.Hostname(), u.Host)
	}
	c := &Client{base: strings.TrimRight(base, "/"), where: o.Addr}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.CAFile != "" {
		if tr.TLSClientConfig, err = httpapi.TLSConfig(o.CAFile, ""); err != nil {
			return nil, err
		}
	}
	c.hc = &http.Client{Transport: tr}
	if o.TokenFile != "" {
		b, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		c.token = strings.TrimSpace(string(b))
	}
	return c, nil
}

// DefaultSocket is where the daemon listens and where clients look for it:
// $CHAOSCTL_SOCKET, else $XDG_RUNTIME_DIR/chaosctl.sock, else
// /run/chaosctl/chaosctl.sock.
func DefaultSocket() string {
	if s := os.Getenv("CHAOSCTL_SOCKET"); s != "" {
		return s
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "chaosctl.sock")
	}
	return "/run/chaosctl/chaosctl.sock"
}

// Loopback reports whether host (a name or an IP, without port) is this
// machine's loopback.
func Loopback(host string) bool { return httpapi.Loopback(host) }

// Where says which daemon the client talks to.
func (c *Client) Where() string { return c.where }

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	req, err := httpapi.NewRequest(ctx, method, c.base+path, c.token, body)
	if err != nil {
		return err
	}
	a, err := httpapi.Do(ctx, c.hc, req, out)
	switch {
	case errors.Is(err, httpapi.ErrBadAnswer):
		return fmt.Errorf("%s %s: %w", method, path, err)
	case err != nil && ctx.Err() != nil:
		return err
	case err != nil:
		return fmt.Errorf("%w at %s: %w", ErrUnreachable, c.where, err)
	case a.Code >= 300:
		ae := &APIError{Status: a.Code}
		if json.Unmarshal(a.Body, &ae.ErrorResponse) != nil || ae.ErrorResponse.Error == "" {
			ae.ErrorResponse.Error = fmt.Sprintf("%s %s: %s", method, path, a.Status)
		}
		return ae
	}
	return nil
}

// Get is GET path (with its query), decoded into out unless out is nil:
// for what has no method of its own (GET /metrics, a run at a resolution
// of the caller's).
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

// Ping checks that a daemon answers, within a short time.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := c.Status(ctx)
	return err
}

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}

// Scenarios is GET /v1/scenarios.
func (c *Client) Scenarios(ctx context.Context) (ScenariosResponse, error) {
	var s ScenariosResponse
	return s, c.do(ctx, http.MethodGet, "/v1/scenarios", nil, &s)
}

// Scenario is one loaded scenario with its TOML and post-mortem
// (GET /v1/scenarios/{name}).
func (c *Client) Scenario(ctx context.Context, name string) (ScenarioDetail, error) {
	var out ScenarioDetail
	err := c.do(ctx, http.MethodGet, "/v1/scenarios/"+url.PathEscape(name), nil, &out)
	return out, err
}

// Start is POST /v1/runs.
func (c *Client) Start(ctx context.Context, req StartRequest) (StartResponse, error) {
	var s StartResponse
	return s, c.do(ctx, http.MethodPost, "/v1/runs", req, &s)
}

// RunPoints is how many buckets Run asks a run's samples thinned to: more
// than the report's timeline has pixels, few enough that a run of hours
// comes back in a few hundred KiB.
const RunPoints = 2000

// Run is GET /v1/runs/{id}, with samples thinned to RunPoints buckets
// (a short run's come back whole).
func (c *Client) Run(ctx context.Context, id string) (*journal.Journal, error) {
	var j journal.Journal
	return &j, c.do(ctx, http.MethodGet, "/v1/runs/"+url.PathEscape(id)+"?points="+strconv.Itoa(RunPoints), nil, &j)
}

// History is GET /v1/runs.
func (c *Client) History(ctx context.Context, limit int, scenario string) ([]store.RunSummary, error) {
	var h []store.RunSummary
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if scenario != "" {
		q.Set("scenario", scenario)
	}
	return h, c.do(ctx, http.MethodGet, "/v1/runs?"+q.Encode(), nil, &h)
}

// Abort is POST /v1/runs/{id}/abort.
func (c *Client) Abort(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/v1/runs/"+url.PathEscape(id)+"/abort", nil, nil)
}

// Halt is POST /v1/halt.
func (c *Client) Halt(ctx context.Context) (HaltResponse, error) {
	var h HaltResponse
	return h, c.do(ctx, http.MethodPost, "/v1/halt", nil, &h)
}

// Faults is GET /v1/faults: the faults the daemon could not revert.
func (c *Client) Faults(ctx context.Context) (FaultsResponse, error) {
	var f FaultsResponse
	return f, c.do(ctx, http.MethodGet, "/v1/faults", nil, &f)
}

// RetryFaults is POST /v1/faults/retry: one retry pass now.
func (c *Client) RetryFaults(ctx context.Context) (FaultsResponse, error) {
	var f FaultsResponse
	return f, c.do(ctx, http.MethodPost, "/v1/faults/retry", nil, &f)
}

// ForgetFault is POST /v1/faults/forget.
func (c *Client) ForgetFault(ctx context.Context, ref FaultRef) (UnrevertedFault, error) {
	var f UnrevertedFault
	return f, c.do(ctx, http.MethodPost, "/v1/faults/forget", ref, &f)
}

// Resume is POST /v1/resume.
func (c *Client) Resume(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/resume", nil, nil)
}

// Events streams a run's events to fn until the run's verdict or ctx ends.
func (c *Client) Events(ctx context.Context, id string, fn func(experiments.Event)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/runs/"+url.PathEscape(id)+"/events", nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w at %s: %w", ErrUnreachable, c.where, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		ae := &APIError{Status: resp.StatusCode}
		_ = json.NewDecoder(resp.Body).Decode(&ae.ErrorResponse)
		return ae
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev experiments.Event
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return fmt.Errorf("event stream: %w", err)
		}
		fn(ev)
		if ev.Kind == experiments.EventVerdict {
			return nil
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("event stream: %w", err)
	}
	return ctx.Err()
}
