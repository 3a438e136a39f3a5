package tcpproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// The control API (HTTP/JSON on a loopback port or a unix socket):
//
//	GET    /status        {"listen", "upstream", "toxics": [...], "connections"}
//	POST   /toxics        a Toxic -> 201 the Toxic; 400 invalid; 409 id in use, or
//	                      http_* and stream-shaping toxics mixed (ErrConflict)
//	DELETE /toxics/{id}   204; 404 when there is no such toxic

// Status is what GET /status answers.
type Status struct {
	Listen      string  `json:"listen"`
	Upstream    string  `json:"upstream"`
	Toxics      []Toxic `json:"toxics"`
	Connections int     `json:"connections"`
}

// Handler serves the control API of p.
func Handler(p *Proxy) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		n := len(p.conns)
		p.mu.Unlock()
		writeJSON(w, http.StatusOK, Status{Listen: p.Listen, Upstream: p.Upstream, Toxics: p.Toxics(), Connections: n})
	})
	mux.HandleFunc("POST /toxics", func(w http.ResponseWriter, r *http.Request) {
		var t Toxic
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&t); err != nil {
			http.Error(w, "decode toxic: "+err.Error(), http.StatusBadRequest)
			return
		}
		err := p.AddToxic(t)
		switch {
		case errors.Is(err, ErrInvalidToxic):
			http.Error(w, err.Error(), http.StatusBadRequest)
		case errors.Is(err, ErrDuplicate), errors.Is(err, ErrConflict):
			http.Error(w, err.Error(), http.StatusConflict)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			writeJSON(w, http.StatusCreated, t)
		}
	})
	mux.HandleFunc("DELETE /toxics/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := p.RemoveToxic(r.PathValue("id")); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// ListenControl listens on a control address: "unix:/path" or host:port.
func ListenControl(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return lc.Listen(ctx, "unix", path)
	}
	return lc.Listen(ctx, "tcp", addr)
}

// Errors of the control client.
var (
	// ErrProxyGone: nothing listens at the control address (the proxy
	// exited, and its toxics with it).
	ErrProxyGone = errors.New("no chaosctl proxy at the control address")
)

// Client talks to a proxy's control API.
type Client struct {
	addr string
	http *http.Client
	base string
}

// NewClient returns a client for the control address ("unix:/path" or host:port).
func NewClient(addr string) *Client {
	// One request per connection: control calls are rare, and a kept-alive
	// connection per short-lived client would pile up on both sides.
	tr := &http.Transport{DisableKeepAlives: true}
	base := "http://" + addr
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		base = "http://proxy"
	}
	return &Client{addr: addr, base: base, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func (c *Client) do(ctx context.Context, method, path string, body any, out any, okCodes ...int) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return 0, fmt.Errorf("%w %s: %w", ErrProxyGone, c.addr, err)
		}
		return 0, fmt.Errorf("proxy control %s: %w", c.addr, err)
	}
	defer resp.Body.Close()
	for _, ok := range okCodes {
		if resp.StatusCode == ok {
			if out != nil {
				return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
			}
			return resp.StatusCode, nil
		}
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, fmt.Errorf("proxy control %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(msg)))
}

// Status reads the proxy's state.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	_, err := c.do(ctx, http.MethodGet, "/status", nil, &s, http.StatusOK)
	return s, err
}

// Add activates a toxic.
func (c *Client) Add(ctx context.Context, t Toxic) error {
	_, err := c.do(ctx, http.MethodPost, "/toxics", t, nil, http.StatusCreated)
	return err
}

// Remove deactivates a toxic; a toxic that is not there is ErrNoToxic.
func (c *Client) Remove(ctx context.Context, id string) error {
	code, err := c.do(ctx, http.MethodDelete, "/toxics/"+id, nil, nil, http.StatusNoContent)
	if code == http.StatusNotFound {
		return fmt.Errorf("%w: %q", ErrNoToxic, id)
	}
	return err
}
