package probes

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func init() {
	register(Kind{
		Name:    "load",
		Doc:     "Constant-rate HTTP load (open loop, vegeta); every request is a sample, ok when its status is expected. Value: status code.",
		NewSpec: func() Spec { return &LoadSpec{} },
	})
}

// Bounds of a load probe: past them a scenario is more likely a typo than
// a plan, and a machine cannot keep up anyway.
const (
	maxLoadRate       = 100_000
	maxLoadWorkers    = 100_000
	defaultLoadWorker = 1000
)

// LoadSpec is the "load" probe: HTTP requests at a constant rate, each
// one a sample. The per-request timeout is the probe's common timeout.
type LoadSpec struct {
	URL          string            `toml:"url"`           // required, http or https
	Rate         int               `toml:"rate"`          // required, requests per second
	Method       string            `toml:"method"`        // default GET
	Headers      map[string]string `toml:"headers"`       // "Host" sets the request's host
	Body         string            `toml:"body"`          // request body
	MaxWorkers   int               `toml:"max_workers"`   // requests in flight at most; default 1000
	ExpectStatus []int             `toml:"expect_status"` // default: any 2xx
}

// Validate reports every problem with the spec.
func (s *LoadSpec) Validate() []FieldError {
	var errs []FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if msg := checkHTTPURL(s.URL, "required"); msg != "" {
		add("url", "%s", msg)
	}
	switch {
	case s.Rate == 0:
		add("rate", "required (requests per second)")
	case s.Rate < 0 || s.Rate > maxLoadRate:
		add("rate", "must be in 1..%d requests per second, got %d", maxLoadRate, s.Rate)
	}
	if s.Method != "" && !httpMethods[strings.ToUpper(s.Method)] {
		add("method", "unknown method %q (want GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or TRACE)", s.Method)
	}
	for k := range s.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			add("headers", "%q is not a header name", k)
		}
	}
	if s.MaxWorkers < 0 || s.MaxWorkers > maxLoadWorkers {
		add("max_workers", "must be in 1..%d, got %d", maxLoadWorkers, s.MaxWorkers)
	}
	for i, c := range s.ExpectStatus {
		if c < 100 || c > 599 {
			add("expect_status", "[%d] %d is not an HTTP status (100..599)", i, c)
		}
	}
	return errs
}

// Build returns the prober. It owns one Transport, sized for its workers,
// whose connections are kept alive across requests.
func (s *LoadSpec) Build(name string) (Prober, error) {
	if err := validated(name, s.Validate()); err != nil {
		return nil, err
	}
	workers := s.MaxWorkers
	if workers == 0 {
		workers = defaultLoadWorker
	}
	method := http.MethodGet
	if s.Method != "" {
		method = strings.ToUpper(s.Method)
	}
	tgt := vegeta.Target{Method: method, URL: s.URL, Body: []byte(s.Body), Header: http.Header{}}
	for k, v := range s.Headers {
		tgt.Header.Set(k, v) // net/http takes a Host header as the request's host
	}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second, // the request's own timeout is shorter and wins
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        workers,
		MaxIdleConnsPerHost: workers,
		IdleConnTimeout:     90 * time.Second,
	}
	return &loadProber{name: name, spec: *s, target: tgt, workers: uint64(workers), rt: tr, tr: tr}, nil
}

type loadProber struct {
	name    string
	spec    LoadSpec
	target  vegeta.Target
	workers uint64
	rt      http.RoundTripper // tr, or a test's
	tr      *http.Transport

	mu    sync.Mutex
	began time.Time    // when the stream started sending
	sent  atomic.Int64 // requests started since began
}

var (
	_ Streamer     = (*loadProber)(nil)
	_ RateReporter = (*loadProber)(nil)
)

// Probe sends one request: what a caller that does not stream gets.
func (p *loadProber) Probe(ctx context.Context) Sample {
	start := time.Now()
	req, err := p.target.Request()
	if err != nil {
		return Sample{Probe: p.name, Time: start, Err: err.Error()}
	}
	resp, err := (&http.Client{Transport: p.rt}).Do(req.WithContext(ctx))
	s := Sample{Probe: p.name, Time: start}
	if err != nil {
		s.Latency, s.Err = time.Since(start), reason(ctx, err)
		return s
	}
	discard(resp)
	s.Latency = time.Since(start)
	s.Value = float64(resp.StatusCode)
	if s.OK = p.statusOK(resp.StatusCode); !s.OK {
		s.Err = fmt.Sprintf("status %d, want %s", resp.StatusCode, p.wantStatus())
	}
	return s
}

// Stream sends requests at the spec's rate until ctx ends, open loop:
// a request is sent on schedule whether or not earlier ones have
// answered, up to max_workers in flight. Each answered request is one
// sample; requests still in flight when ctx ends are cancelled and say
// nothing about the target.
func (p *loadProber) Stream(ctx context.Context, timeout time.Duration, emit func(Sample)) error {
	client := &http.Client{Transport: ctxTransport{ctx, timeout, p.rt}}
	atk := vegeta.NewAttacker(
		vegeta.Client(client),
		vegeta.Workers(min(p.workers, 10)),
		vegeta.MaxWorkers(p.workers),
		vegeta.MaxBody(0), // bodies are drained, not kept
	)
	tgt := p.target
	targeter := func(t *vegeta.Target) error {
		p.sent.Add(1)
		*t = tgt
		return nil
	}
	p.mu.Lock()
	p.began = time.Now()
	p.sent.Store(0)
	p.mu.Unlock()
	results := atk.Attack(targeter, vegeta.ConstantPacer{Freq: p.spec.Rate, Per: time.Second}, 0, "")
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	for res := range results {
		if ctx.Err() != nil {
			continue // drain: vegeta waits for its workers
		}
		emit(p.sample(res))
	}
	return nil
}

// Achieved is the rate of requests started since the stream began, and
// the rate asked for. Before Stream it is 0.
func (p *loadProber) Achieved() (got, want float64) {
	want = float64(p.spec.Rate)
	p.mu.Lock()
	began := p.began
	p.mu.Unlock()
	el := time.Since(began)
	if began.IsZero() || el <= 0 {
		return 0, want
	}
	// The first request goes at 0: n requests started cover n-1 periods.
	return float64(max(p.sent.Load()-1, 0)) / el.Seconds(), want
}

// Close drops the prober's idle connections.
func (p *loadProber) Close() error {
	p.tr.CloseIdleConnections()
	return nil
}

// localAddr is the ephemeral end of a connection in an error message
// ("read tcp 127.0.0.1:53312->127.0.0.1:8080: ..."): dropped, so that the
// same failure reads the same on every connection.
var localAddr = regexp.MustCompile(`(tcp[46]?|udp[46]?) [^ ]+->`)

// sample turns a vegeta result into a Sample: vegeta calls any status
// outside 200..399 an error; here the spec's expect_status decides.
func (p *loadProber) sample(res *vegeta.Result) Sample {
	s := Sample{Probe: p.name, Time: res.Timestamp, Latency: res.Latency, Value: float64(res.Code)}
	code := int(res.Code)
	switch {
	case code == 0:
		s.Err = p.requestError(res.Error)
	case !p.statusOK(code):
		s.Err = fmt.Sprintf("status %d, want %s", code, p.wantStatus())
	case res.Error != "" && !strings.HasPrefix(res.Error, strconv.Itoa(code)+" "):
		s.Err = p.requestError(res.Error) // the body could not be read
	default:
		s.OK = true
	}
	return s
}

// requestError shortens a net/http client error as reason does: the URL
// is in the spec already.
func (p *loadProber) requestError(msg string) string {
	if msg == "" {
		return "no response"
	}
	m := p.target.Method
	op := m[:1] + strings.ToLower(m[1:])
	msg = strings.TrimPrefix(msg, fmt.Sprintf("%s %q: ", op, p.target.URL))
	if strings.Contains(msg, "Client.Timeout exceeded") || strings.Contains(msg, "context deadline exceeded") {
		msg = "timed out: " + msg
	}
	return localAddr.ReplaceAllString(msg, "$1 ")
}

func (p *loadProber) statusOK(code int) bool { return expectStatus(p.spec.ExpectStatus).ok(code) }
func (p *loadProber) wantStatus() string     { return expectStatus(p.spec.ExpectStatus).String() }

// ctxTransport gives every request the stream's context and a timeout:
// vegeta's requests carry no context, and a request in flight when the
// stream ends must end with it. The timeout covers reading the body,
// which ends (and releases the context) when the body is closed.
type ctxTransport struct {
	ctx     context.Context
	timeout time.Duration
	rt      http.RoundTripper
}

func (t ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.timeout)
	resp, err := t.rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelBody{resp.Body, cancel}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
