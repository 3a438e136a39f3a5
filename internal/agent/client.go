package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/internal/httpapi"
)

// Client errors; test them with errors.Is.
var (
	// ErrUnknownFault: the agent has no such fault (404): another agent,
	// or a ledger lost with its node.
	ErrUnknownFault = errors.New("the agent holds no such fault")
	// ErrUnreachable: no agent answered at the address.
	ErrUnreachable = errors.New("node agent unreachable")
	// ErrRefused: the agent answered that it will not (4xx).
	ErrRefused = errors.New("refused by the node agent")
	// ErrTokenInClear: plain http off loopback would carry the token in clear.
	ErrTokenInClear = errors.New("refusing to send the agent's token in clear text")
)

// Client talks to one agent.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// Options say how to reach agents: the bearer token and the CA of their
// certificates (files, as mounted from a Secret).
type Options struct {
	TokenFile string
	CAFile    string
	// ServerName the certificates are checked under (default
	// DefaultServerName), when CAFile is given: one certificate serves
	// every agent, whatever its pod's IP.
	ServerName string
	Timeout    time.Duration // each request; default 30s
}

// OptionsFromEnv reads EnvTokenFile and EnvCAFile.
func OptionsFromEnv() Options {
	return Options{TokenFile: os.Getenv(EnvTokenFile), CAFile: os.Getenv(EnvCAFile), ServerName: os.Getenv(EnvServerName)}
}

// NewClient is a client of the agent at addr ("host:port" is https,
// "http://127.0.0.1:port" only on loopback).
func NewClient(addr string, o Options) (*Client, error) {
	base := addr
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("agent address %q: want host:port, https://host:port or http://127.0.0.1:port", addr)
	}
	if u.Scheme == "http" && !httpapi.Loopback(u.Hostname()) {
		return nil, fmt.Errorf("%w: agent address %s is plain http to %s, not a loopback address: serve the agent over TLS", ErrTokenInClear, addr, u.Hostname())
	}
	if o.TokenFile == "" {
		return nil, fmt.Errorf("no token for the node agent: set %s to the file holding the agents' API token", EnvTokenFile)
	}
	if u.Scheme == "https" && o.CAFile == "" {
		// The address comes from a pod's IP or annotation: without the
		// agents' own CA, any certificate a public CA signed would do, and
		// the token would go to whoever holds it.
		return nil, fmt.Errorf("agent address %s: set %s to the CA of the agents' certificates (agent.yaml's chaosctl-agent-tls)", addr, EnvCAFile)
	}
	tok, err := os.ReadFile(o.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("agent token: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.CAFile != "" {
		name := o.ServerName
		if name == "" {
			name = DefaultServerName
		}
		if tr.TLSClientConfig, err = httpapi.TLSConfig(o.CAFile, name); err != nil {
			return nil, fmt.Errorf("agent %w", err)
		}
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	return &Client{base: strings.TrimRight(base, "/"), token: strings.TrimSpace(string(tok)), hc: &http.Client{Transport: tr, Timeout: o.Timeout}}, nil
}

// Addr is where the agent is.
func (c *Client) Addr() string { return c.base }

// Inject asks the agent to inject; it answers once the fault is in (or
// refused, with the plugin's own words).
func (c *Client) Inject(ctx context.Context, r InjectRequest) (Fault, error) {
	var f Fault
	err := c.do(ctx, http.MethodPost, "/v1/agent/faults", r, &f)
	return f, err
}

// Renew extends the fault's lease by its lease from now.
func (c *Client) Renew(ctx context.Context, id string) (Fault, error) {
	var f Fault
	err := c.do(ctx, http.MethodPost, "/v1/agent/faults/"+url.PathEscape(id)+"/renew", nil, &f)
	return f, err
}

// Revert reverts the fault; a fault already reverted (its lease ran out,
// the agent restarted) is answered as it is, with no error.
func (c *Client) Revert(ctx context.Context, id string) (Fault, error) {
	var f Fault
	err := c.do(ctx, http.MethodDelete, "/v1/agent/faults/"+url.PathEscape(id), nil, &f)
	return f, err
}

// Get is the fault, its plugin's Status asked now.
func (c *Client) Get(ctx context.Context, id string) (Fault, error) {
	var f Fault
	err := c.do(ctx, http.MethodGet, "/v1/agent/faults/"+url.PathEscape(id), nil, &f)
	return f, err
}

// List is every fault the agent holds.
func (c *Client) List(ctx context.Context) ([]Fault, error) {
	var fs []Fault
	err := c.do(ctx, http.MethodGet, "/v1/agent/faults", nil, &fs)
	return fs, err
}

// ErrorBody is the agent's error answer (the daemon's ErrorResponse).
type ErrorBody struct {
	Error  string   `json:"error"`
	Code   string   `json:"code,omitempty"`
	Errors []string `json:"errors,omitempty"` // field: message, for a request the plugin refused
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	req, err := httpapi.NewRequest(ctx, method, c.base+path, c.token, body)
	if err != nil {
		return err
	}
	if method != http.MethodPost || strings.HasSuffix(path, "/renew") {
		// Revert, renew and get may be sent again on a fresh connection
		// when a kept-alive one turns out closed (an agent restarted):
		// net/http replays only requests it is told are idempotent.
		req.Header.Set("Idempotency-Key", path)
	}
	a, err := httpapi.Do(ctx, c.hc, req, out)
	switch {
	case errors.Is(err, httpapi.ErrBadAnswer):
		return fmt.Errorf("agent %s: %s %s: %w", c.base, method, path, err)
	case err != nil && ctx.Err() != nil:
		return err
	case err != nil:
		return fmt.Errorf("%w at %s: %w", ErrUnreachable, c.base, err)
	case a.Code < 300:
		return nil
	}
	var eb ErrorBody
	if json.Unmarshal(a.Body, &eb) != nil || eb.Error == "" {
		eb.Error = a.Status
	}
	msg := eb.Error
	if len(eb.Errors) > 0 {
		msg += ": " + strings.Join(eb.Errors, "; ")
	}
	switch {
	case a.Code == http.StatusNotFound && eb.Code == CodeUnknownFault:
		return fmt.Errorf("agent %s: %w: %s", c.base, ErrUnknownFault, msg)
	case a.Code >= 400 && a.Code < 500:
		return fmt.Errorf("agent %s: %w: %s", c.base, ErrRefused, msg)
	}
	return fmt.Errorf("agent %s: %s %s: %s", c.base, method, path, msg)
}

// CodeUnknownFault names ErrUnknownFault on the wire.
const CodeUnknownFault = "unknown_agent_fault"
