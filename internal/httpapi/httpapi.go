// Package httpapi is what chaosctl's API clients share: the daemon's
// (daemon/api) and the node agent's (internal/agent). Each keeps its own
// errors; this is only how a request leaves, how its answer comes back
// and how a peer's certificate is checked.
package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

// Loopback reports whether host (a name or an IP, without port) is this
// machine's loopback: the only place a token may go over plain http.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// TLSConfig trusts the certificates of caFile alone, checked under
// serverName when it is not "" (one certificate for many addresses).
func TLSConfig(caFile, serverName string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificates", caFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}, nil
}

// NewRequest is a request with body as JSON (none when nil) and the
// bearer token (none when "").
func NewRequest(ctx context.Context, method, url, token string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req, nil
}

// Answer is how a peer answered a request that got an answer: a 2xx is
// decoded into the caller's value; anything else is kept for the caller
// to word in its own errors.
type Answer struct {
	Code   int
	Status string // "404 Not Found"
	Body   []byte // the first MiB of an answer of 300 or more
}

// ErrBadAnswer wraps a 2xx answer whose JSON would not decode.
var ErrBadAnswer = errors.New("bad response")

// Do sends req and, for a 2xx answer, decodes its JSON into out (unless
// out is nil). err is the transport's error (ctx's own when ctx ended),
// or ErrBadAnswer; an answer of 300 or more is no error here: the caller
// reads it from Answer.
func Do(ctx context.Context, hc *http.Client, req *http.Request, out any) (Answer, error) {
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Answer{}, ctx.Err()
		}
		return Answer{}, err
	}
	defer resp.Body.Close()
	a := Answer{Code: resp.StatusCode, Status: resp.Status}
	if resp.StatusCode >= 300 {
		a.Body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return a, nil
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return a, fmt.Errorf("%w: %w", ErrBadAnswer, err)
		}
	}
	return a, nil
}
