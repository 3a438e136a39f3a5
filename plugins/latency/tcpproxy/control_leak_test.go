package tcpproxy

import (
	"context"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestControlClientLeavesNoConnections: many short-lived clients, as the
// latency plugin makes, must not pile up goroutines (kept-alive
// connections) on the caller's side.
func TestControlClientLeavesNoConnections(t *testing.T) {
	p := New("127.0.0.1:0", "127.0.0.1:1")
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := httptest.NewServer(Handler(p))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	before := runtime.NumGoroutine()
	for range 50 {
		if _, err := NewClient(addr).Status(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after 50 control calls, %d before: connections are kept", runtime.NumGoroutine(), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
