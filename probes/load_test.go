package probes

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadValidate(t *testing.T) {
	tests := []struct {
		name string
		spec LoadSpec
		want []string
	}{
		{"ok", LoadSpec{URL: "http://127.0.0.1:8080/", Rate: 100}, nil},
		{"everything set", LoadSpec{URL: "https://a.example/x", Rate: 1000, Method: "post", Body: "{}",
			Headers: map[string]string{"Content-Type": "application/json"}, MaxWorkers: 50, ExpectStatus: []int{200, 201}}, nil},
		{"empty", LoadSpec{}, []string{"url: required", "rate: required (requests per second)"}},
		{"bad url", LoadSpec{URL: "ftp://x/", Rate: 1}, []string{`url: scheme must be http or https, not "ftp"`}},
		{"no host", LoadSpec{URL: "http:///x", Rate: 1}, []string{`url: no host in "http:///x"`}},
		{"negative rate", LoadSpec{URL: "http://x/", Rate: -5}, []string{"rate: must be in 1..100000 requests per second, got -5"}},
		{"huge rate", LoadSpec{URL: "http://x/", Rate: 1_000_000}, []string{"rate: must be in 1..100000 requests per second, got 1000000"}},
		{"method", LoadSpec{URL: "http://x/", Rate: 1, Method: "FETCH"}, []string{`method: unknown method "FETCH" (want GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or TRACE)`}},
		{"header", LoadSpec{URL: "http://x/", Rate: 1, Headers: map[string]string{"X Bad": "v"}}, []string{`headers: "X Bad" is not a header name`}},
		{"workers", LoadSpec{URL: "http://x/", Rate: 1, MaxWorkers: -1}, []string{"max_workers: must be in 1..100000, got -1"}},
		{"status", LoadSpec{URL: "http://x/", Rate: 1, ExpectStatus: []int{200, 99}}, []string{"expect_status: [1] 99 is not an HTTP status (100..599)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range tt.spec.Validate() {
				got = append(got, e.Error())
			}
			assert.Equal(t, tt.want, got)
			if tt.want != nil {
				_, err := tt.spec.Build("l")
				var ie *InvalidError
				require.ErrorAs(t, err, &ie)
			}
		})
	}
}

func buildLoad(t *testing.T, s LoadSpec) *loadProber {
	t.Helper()
	p, err := s.Build("l")
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.(*loadProber).Close() })
	return p.(*loadProber)
}

// collect streams p until n samples have come, and returns them.
func collect(t *testing.T, p *loadProber, n int) []Sample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		mu  sync.Mutex
		out []Sample
	)
	err := p.Stream(ctx, 2*time.Second, func(s Sample) {
		mu.Lock()
		defer mu.Unlock()
		if len(out) < n {
			out = append(out, s)
		}
		if len(out) == n {
			cancel()
		}
	})
	require.NoError(t, err)
	require.Len(t, out, n, "stream ended before %d samples", n)
	return out
}

// TestLoadStream: every request against a real server is a sample whose
// outcome follows expect_status, and the request is the spec's.
func TestLoadStream(t *testing.T) {
	var hits atomic.Int64
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		got.Store(r.Method + " " + r.Header.Get("X-Test") + " " + r.Host + " " + string(b))
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	t.Run("ok", func(t *testing.T) {
		p := buildLoad(t, LoadSpec{URL: srv.URL + "/", Rate: 500, Method: "put", Body: "hello",
			Headers: map[string]string{"X-Test": "yes", "Host": "shop.example"}})
		for _, s := range collect(t, p, 50) {
			assert.True(t, s.OK, s.Err)
			assert.Equal(t, "l", s.Probe)
			assert.Equal(t, 200.0, s.Value)
			assert.Positive(t, s.Latency)
			assert.False(t, s.Time.IsZero())
		}
		assert.Equal(t, "PUT yes shop.example hello", got.Load())
	})
	t.Run("503 not expected", func(t *testing.T) {
		p := buildLoad(t, LoadSpec{URL: srv.URL + "/down", Rate: 500})
		for _, s := range collect(t, p, 20) {
			assert.False(t, s.OK)
			assert.Equal(t, 503.0, s.Value)
			assert.Equal(t, "status 503, want 2xx", s.Err)
		}
	})
	t.Run("503 expected", func(t *testing.T) {
		p := buildLoad(t, LoadSpec{URL: srv.URL + "/down", Rate: 500, ExpectStatus: []int{503}})
		for _, s := range collect(t, p, 20) {
			assert.True(t, s.OK, s.Err)
		}
	})
	t.Run("200 not in expect_status", func(t *testing.T) {
		p := buildLoad(t, LoadSpec{URL: srv.URL + "/", Rate: 500, ExpectStatus: []int{201}})
		for _, s := range collect(t, p, 20) {
			assert.Equal(t, "status 200, want 201", s.Err)
		}
	})
}

// TestLoadRefused: a target that is down gives failed samples at the
// probe's rate, with one short reason (no URL, no local port).
func TestLoadRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	p := buildLoad(t, LoadSpec{URL: "http://" + addr + "/", Rate: 500})
	reasons := map[string]bool{}
	for _, s := range collect(t, p, 30) {
		assert.False(t, s.OK)
		assert.Zero(t, s.Value)
		reasons[s.Err] = true
	}
	require.Len(t, reasons, 1, "%v", reasons)
	for r := range reasons {
		assert.Equal(t, "dial tcp "+addr+": connect: connection refused", r)
	}
}

// fakeRT answers every request with status after delay (simulated time),
// or when the request's context ends.
type fakeRT struct {
	status int
	delay  time.Duration
	n      atomic.Int64
}

func (f *fakeRT) RoundTrip(req *http.Request) (*http.Response, error) {
	f.n.Add(1)
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	return &http.Response{StatusCode: f.status, Status: http.StatusText(f.status), Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
}

// streamFor streams p for d of simulated time and counts its samples.
func streamFor(t *testing.T, p *loadProber, d, timeout time.Duration) (ok, failed int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- p.Stream(ctx, timeout, func(s Sample) {
			if s.OK {
				ok++
			} else {
				failed++
			}
		})
	}()
	time.Sleep(d)
	got, want := p.Achieved()
	t.Logf("achieved %.1f of %.0f req/s", got, want)
	cancel()
	require.NoError(t, <-done)
	return ok, failed
}

// TestLoadRate: in simulated time, the open loop sends at the asked rate;
// a slow target with too few workers shows as a rate not achieved.
func TestLoadRate(t *testing.T) {
	t.Run("achieved", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := buildLoad(t, LoadSpec{URL: "http://target.test/", Rate: 1000})
			p.rt = &fakeRT{status: 200, delay: 20 * time.Millisecond}
			if got, _ := p.Achieved(); got != 0 {
				t.Errorf("achieved %v before the stream", got)
			}
			ok, failed := streamFor(t, p, 5*time.Second, time.Second)
			// 5000 sent at 0, 1ms, ..., 5s; those of the last 20ms were in flight.
			assert.InDelta(t, 5000-20, ok, 2)
			assert.Zero(t, failed)
			got, want := p.Achieved()
			assert.Equal(t, 1000.0, want)
			assert.InDelta(t, 1000, got, 1)
		})
	})
	t.Run("not achieved", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := buildLoad(t, LoadSpec{URL: "http://target.test/", Rate: 100, MaxWorkers: 5})
			p.rt = &fakeRT{status: 200, delay: time.Second}
			ok, _ := streamFor(t, p, 10*time.Second, 5*time.Second)
			// 5 workers, a second a request: 5 req/s, not 100.
			assert.InDelta(t, 45, ok, 5)
			got, _ := p.Achieved()
			assert.InDelta(t, 5, got, 1)
		})
	})
	t.Run("timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := buildLoad(t, LoadSpec{URL: "http://target.test/", Rate: 100})
			p.rt = &fakeRT{status: 200, delay: time.Hour}
			start := time.Now()
			ok, failed := streamFor(t, p, 3*time.Second, 500*time.Millisecond)
			assert.Zero(t, ok)
			// Each request times out after 500ms; those of the last 500ms were in flight.
			assert.InDelta(t, 250, failed, 2)
			// In-flight requests end with the stream, not after their
			// 500ms timeout (vegeta's pacer sees the stop within a few
			// periods: its select may send a few more ticks first).
			assert.Less(t, time.Since(start), 3*time.Second+400*time.Millisecond)
		})
	})
}

// TestLoadProbe: a caller that does not stream gets one request a call.
func TestLoadProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := buildLoad(t, LoadSpec{URL: "http://target.test/", Rate: 10})
		p.rt = &fakeRT{status: 503}
		s := p.Probe(context.Background())
		assert.Equal(t, Sample{Probe: "l", Time: s.Time, Value: 503, Err: "status 503, want 2xx"}, s)
	})
}
