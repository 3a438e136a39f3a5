package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/daemon/api"
)

// The API's limits are tested against a real daemon on its unix socket
// with short timeouts: what a stalled, slow or greedy client gets, and
// that the daemon goes on serving everyone else.

// quickLimits shortens the API's timeouts so a test sees them expire.
func quickLimits(cfg *Config) {
	cfg.API.ReadHeaderTimeout = Duration{Duration: 300 * time.Millisecond}
	cfg.API.IdleTimeout = Duration{Duration: 300 * time.Millisecond}
	cfg.API.BodyTimeout = Duration{Duration: 300 * time.Millisecond}
}

func dialSocket(t *testing.T, td *testDaemon) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", td.cfg.API.Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reads from c until the server closes it; it fails the
// test when that takes longer than within.
func closedByServer(t *testing.T, c net.Conn, within time.Duration) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s (read %q)", within, b)
	}
	return b
}

// serving checks the daemon still answers a new client.
func serving(t *testing.T, td *testDaemon) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := td.c.Status(ctx); err != nil {
		t.Fatalf("daemon no longer serving: %v", err)
	}
}

// TestSlowClientsAreCutOff: a client that never finishes its headers, or
// keeps a connection idle, loses it after the timeout.
func TestSlowClientsAreCutOff(t *testing.T) {
	cfg := testConfig(t)
	quickLimits(&cfg)
	td := start(t, cfg)

	t.Run("headers never end", func(t *testing.T) {
		c := dialSocket(t, td)
		if _, err := io.WriteString(c, "GET /v1/status HTTP/1.1\r\nHost: chaosctl\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		begin := time.Now()
		closedByServer(t, c, 5*time.Second)
		if d := time.Since(begin); d < 250*time.Millisecond {
			t.Errorf("cut off after %s, before read_header_timeout", d)
		}
		serving(t, td)
	})
	t.Run("nothing sent", func(t *testing.T) {
		closedByServer(t, dialSocket(t, td), 5*time.Second)
		serving(t, td)
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dialSocket(t, td)
		if _, err := io.WriteString(c, "GET /v1/status HTTP/1.1\r\nHost: chaosctl\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("first request: %v %v", resp, err)
		}
		closedByServer(t, c, 5*time.Second)
		serving(t, td)
	})
}

// rawPost sends a POST /v1/runs whose headers announce length bytes and
// whose body is body, then reads the response.
func rawPost(t *testing.T, c net.Conn, length int, body []byte) (*http.Response, api.ErrorResponse) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "POST /v1/runs HTTP/1.1\r\nHost: chaosctl\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", length); err != nil {
		t.Fatal(err)
	}
	// The server may answer and close before it has read the whole body
	// (one too large): the answer is what counts.
	if _, err := c.Write(body); err != nil && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	defer resp.Body.Close()
	var er api.ErrorResponse
	_ = json.NewDecoder(resp.Body).Decode(&er)
	return resp, er
}

// TestBadBodies: a body over 1 MiB gets 413, one that stops coming 408;
// both close the connection and the daemon goes on serving.
func TestBadBodies(t *testing.T) {
	cfg := testConfig(t)
	quickLimits(&cfg)
	td := start(t, cfg)
	for _, tc := range []struct {
		name   string
		length int
		body   []byte
		code   int
		msg    string
	}{
		{"oversized", 2 * maxBody, bytes.Repeat([]byte(" "), maxBody+1), http.StatusRequestEntityTooLarge, "request body larger than 1048576 bytes"},
		{"stalled", 100, []byte(`{"scenario":`), http.StatusRequestTimeout, "request body not received within 300ms (api.body_timeout)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialSocket(t, td)
			resp, er := rawPost(t, c, tc.length, tc.body)
			if resp.StatusCode != tc.code || er.Error != tc.msg || !resp.Close {
				t.Errorf("%d %q close=%v, want %d %q and the connection closed", resp.StatusCode, er.Error, resp.Close, tc.code, tc.msg)
			}
			serving(t, td)
		})
	}
	if h, _ := td.c.History(context.Background(), 0, ""); len(h) != 0 {
		t.Errorf("bad bodies started runs: %+v", h)
	}
}

// TestConnectionCap: beyond max_connections a client waits until a
// connection is freed; then it is served.
func TestConnectionCap(t *testing.T) {
	cfg := testConfig(t)
	cfg.API.MaxConnections = 2
	td := start(t, cfg)
	// Two connections that send nothing take both slots (until
	// read_header_timeout, 10s here).
	holders := []net.Conn{dialSocket(t, td), dialSocket(t, td)}
	oneShot := func(timeout time.Duration) error {
		hc := &http.Client{Timeout: timeout, Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", cfg.API.Socket)
			},
		}}
		resp, err := hc.Get("http://chaosctl/v1/status")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := oneShot(500 * time.Millisecond); err == nil {
		t.Fatal("a third connection was served while two held both slots")
	}
	holders[0].Close()
	if err := oneShot(5 * time.Second); err != nil {
		t.Fatalf("once a slot was freed: %v", err)
	}
}

// TestEventStreamRenewsItsWriteDeadline: a stream longer than
// write_timeout is not cut, since each write renews the deadline.
func TestEventStreamRenewsItsWriteDeadline(t *testing.T) {
	v := startVictim(t)
	cfg := testConfig(t)
	cfg.API.WriteTimeout = Duration{Duration: 300 * time.Millisecond}
	writeScen(t, cfg, "s.toml", render(t, scen{Name: "s", Duration: "1s", PID: v.pid}))
	td := start(t, cfg)
	res, err := td.c.Start(context.Background(), api.StartRequest{Scenario: "s"})
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	j, evs := td.wait(t, res.RunID) // fails on a stream cut before the verdict
	if d := time.Since(begin); d < 3*cfg.API.WriteTimeout.Duration {
		t.Fatalf("stream lasted %s: too short to prove anything", d)
	}
	if len(evs) == 0 || evs[len(evs)-1].Verdict != j.Verdict {
		t.Errorf("stream ended without the verdict: %d events", len(evs))
	}
}
