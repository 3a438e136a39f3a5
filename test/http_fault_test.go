package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins/latency/tcpproxy"
)

// paymentProvider stands in for the provider: POST /v1/charges and GET
// /v1/health answer 200 with the same bytes every time (no Date header),
// counting the calls that reach it.
func paymentProvider(t *testing.T) (addr string, charges *atomic.Int64) {
	t.Helper()
	charges = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header()["Date"] = nil
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/charges":
			charges.Add(1)
			fmt.Fprint(w, `{"id": "ch_1", "status": "succeeded"}`)
		case "/v1/health":
			fmt.Fprint(w, `{"ok": true}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), charges
}

// rawExchange sends raw (pipelined requests, the last with Connection:
// close) and returns every byte that comes back.
func rawExchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHTTPFaultAbortHalfThroughProxyBinary: the real `chaosctl proxy`,
// an http_abort of 50% of POST /v1/charges set through its control API:
// 1000 charges see 45-55% of 503s, and other calls are untouched, byte
// for byte, on kept-alive and pipelined connections.
func TestHTTPFaultAbortHalfThroughProxyBinary(t *testing.T) {
	up, charges := paymentProvider(t)
	listen := freeAddr(t)
	control := startChaosProxy(t, listen, up)
	ctx := context.Background()
	cl := tcpproxy.NewClient(control)
	if err := cl.Add(ctx, tcpproxy.Toxic{ID: "half", Kind: tcpproxy.KindHTTPAbort, Status: 503, Body: "unavailable",
		Match: &tcpproxy.HTTPMatch{Percent: 50, Method: "POST", PathPrefix: "/v1/charges"}}); err != nil {
		t.Fatal(err)
	}

	// Unmatched calls (pipelined, odd header case, a chunked body, a GET
	// to the charges path) give the same bytes with and without the proxy.
	unmatched := "GET /v1/health HTTP/1.1\r\nhost: p\r\nX-trace: 1\r\n\r\n" +
		"GET /v1/charges HTTP/1.1\r\nHost: p\r\n\r\n" +
		"PUT /v1/health HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" +
		"GET /nope HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n"
	direct, proxied := rawExchange(t, up, unmatched), rawExchange(t, listen, unmatched)
	if direct != proxied {
		t.Errorf("unmatched calls changed through the proxy:\ndirect:  %q\nproxied: %q", direct, proxied)
	}

	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	var aborted, ok, health int
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		resp, err := hc.Post("http://"+listen+"/v1/charges", "application/json", strings.NewReader(`{"amount":1}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == 503 && string(b) == "unavailable":
			aborted++
		case resp.StatusCode == 200:
			ok++
		default:
			t.Fatalf("charge %d: %d %q", i, resp.StatusCode, b)
		}
		resp, err = hc.Get("http://" + listen + "/v1/health")
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && string(b) == `{"ok": true}` {
			health++
		}
	}
	if aborted+ok != 1000 {
		t.Fatalf("only %d charges in the time allowed", aborted+ok)
	}
	t.Logf("%d of 1000 charges aborted; %d reached the provider", aborted, charges.Load())
	if aborted < 450 || aborted > 550 {
		t.Errorf("%d of 1000 charges aborted, want 45-55%%", aborted)
	}
	if health != 1000 {
		t.Errorf("%d of 1000 health calls answered by the provider, want all", health)
	}
	if got := charges.Load(); got != int64(ok)+2 { // +2: the GET above, direct and proxied
		t.Errorf("the provider saw %d charges, want the %d not aborted (+2 GETs)", got, ok)
	}

	// Pipelined: answers come back in request order, aborted or not.
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var raw strings.Builder
	for i := range 40 {
		path := "/v1/charges"
		if i%2 == 1 {
			path = "/v1/health"
		}
		fmt.Fprintf(&raw, "POST %s HTTP/1.1\r\nHost: p\r\nContent-Length: 1\r\nX-N: %d\r\n\r\nx", path, i)
	}
	if _, err := io.WriteString(c, raw.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := range 40 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("pipelined answer %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := []string{`{"id": "ch_1", "status": "succeeded"}`, "unavailable"}
		if i%2 == 1 {
			want = []string{`{"ok": true}`}
		}
		if !contains(want, string(b)) {
			t.Errorf("pipelined answer %d: %d %q, want one of %q", i, resp.StatusCode, b, want)
		}
	}

	if err := cl.Remove(ctx, "half"); err != nil {
		t.Fatal(err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestHTTPFaultScenarioPayment503: `chaosctl run` of the example
// "payment provider returns 503 for half the calls" against the real
// proxy binary: charges breach during the fault and recover after the
// revert; the health calls through the same proxy never notice; the
// proxy has no toxic left.
func TestHTTPFaultScenarioPayment503(t *testing.T) {
	up, _ := paymentProvider(t)
	listen := freeAddr(t)
	control := startChaosProxy(t, listen, up)
	path := example(t, "http-payment-503.toml", "127.0.0.1:7000", listen, "127.0.0.1:9901", control)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := chaosctl(t, ctx, "run", path)
	mustRun(t, r, 0, journal.Passed)
	for _, s := range r.journal.SLOs {
		f := s.Phases["fault"]
		t.Logf("SLO %s: fault phase %d samples, %.1f%% available", s.Name, f.Samples, f.Availability)
		switch s.Name {
		case "charges-succeed":
			// 50% of ~40 samples: a wide but meaningful band.
			if f.Samples < 20 || f.Availability < 20 || f.Availability > 80 {
				t.Errorf("charges in the fault phase: %.1f%% of %d samples, want about half", f.Availability, f.Samples)
			}
			if s.BreachedAt == nil {
				t.Errorf("charges: no breach recorded")
			}
		case "provider-health-untouched":
			if f.Samples < 20 || f.Availability != 100 {
				t.Errorf("health in the fault phase: %.1f%% of %d samples, want 100%%", f.Availability, f.Samples)
			}
		}
	}
	st, err := tcpproxy.NewClient(control).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Toxics) != 0 {
		t.Errorf("toxics left on the proxy after the run: %+v", st.Toxics)
	}
}
