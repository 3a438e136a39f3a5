package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
)

// Defaults of Options.
const (
	DefaultQueue      = 256
	DefaultTries      = 3
	DefaultBackoff    = 500 * time.Millisecond
	DefaultTryTimeout = 5 * time.Second
	DefaultDrain      = 5 * time.Second
)

// Options tune delivery; the zero value takes the defaults above.
type Options struct {
	Log    zerolog.Logger
	Client *http.Client // default: a client of its own over http.DefaultTransport
	// Queue bounds the notifications waiting to be sent; past it, new ones
	// are dropped (and logged) rather than hold up the run.
	Queue int
	// Tries per request, Backoff the wait after the first failed try
	// (doubled after each), TryTimeout the bound on each try.
	Tries      int
	Backoff    time.Duration
	TryTimeout time.Duration
	// Drain bounds how long Close waits for what is still queued.
	Drain time.Duration
}

func (o Options) withDefaults() Options {
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.Tries <= 0 {
		o.Tries = DefaultTries
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.TryTimeout <= 0 {
		o.TryTimeout = DefaultTryTimeout
	}
	if o.Drain <= 0 {
		o.Drain = DefaultDrain
	}
	return o
}

// Run notifies about one run. Observe is its experiments.Observer; Close
// drains it when the run is over. A nil *Run (nothing configured) does
// nothing.
type Run struct {
	cfg             Config
	o               Options
	log             zerolog.Logger
	runID, scenario string
	token           string // Grafana's; "" when Grafana is off

	// Observe's state: events arrive in order from one goroutine.
	started   time.Time
	faults    map[string]*faultSent
	order     []string // fault ids, as they first came
	recovered *time.Duration

	mu     sync.Mutex // guards closed against Observe after Close
	closed bool
	// One lane per receiver, each with its queue and sender, so a receiver
	// that is down delays nobody else.
	webhookLanes, slackLanes []*lane
	grafanaLane              *lane

	ctx    context.Context
	cancel context.CancelFunc

	regions []region // the Grafana regions posted; the Grafana lane's sender only
}

// lane is one receiver's queue and the goroutine that sends it.
type lane struct {
	sink    string
	queue   chan item
	done    chan struct{}
	dropped int // the sender's, read after done
}

type faultSent struct {
	injected, checked, reverted, failed bool
	last                                journal.Fault
}

// item is one notification for one receiver. reqs is called by the sender,
// so a request can depend on the responses to earlier ones (Grafana's
// annotation ids).
type item struct {
	sink, event string
	reqs        func() []request
}

type request struct {
	method, url string
	body        []byte
	bearer      string
	onOK        func(body []byte)
}

// Start begins notifying about run runID of scenario. It returns nil when
// cfg sends nothing. A Grafana token file that cannot be read is logged and
// turns Grafana off for this run; the others still send.
func Start(cfg Config, runID, scenario string, o Options) *Run {
	if !cfg.Enabled() {
		return nil
	}
	o = o.withDefaults()
	r := &Run{
		cfg: cfg, o: o, runID: runID, scenario: scenario,
		log:    o.Log.With().Str("run_id", runID).Str("scenario", scenario).Str("component", "notify").Logger(),
		faults: map[string]*faultSent{},
	}
	if cfg.Grafana.URL != "" {
		tok, err := ReadToken(cfg.Grafana.TokenFile)
		if err != nil {
			r.log.Error().Err(err).Str("sink", "grafana").Msg("no Grafana annotations for this run")
			r.cfg.Grafana = Grafana{}
		}
		r.token = tok
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	newLane := func(sink string) *lane {
		l := &lane{sink: sink, queue: make(chan item, o.Queue), done: make(chan struct{})}
		go r.send(l)
		return l
	}
	for range cfg.Webhooks {
		r.webhookLanes = append(r.webhookLanes, newLane("webhook"))
	}
	for range cfg.Slack {
		r.slackLanes = append(r.slackLanes, newLane("slack"))
	}
	if r.cfg.Grafana.URL != "" {
		r.grafanaLane = newLane("grafana")
	}
	return r
}

func (r *Run) lanes() []*lane {
	out := append(slices.Clone(r.webhookLanes), r.slackLanes...)
	if r.grafanaLane != nil {
		out = append(out, r.grafanaLane)
	}
	return out
}

// ReadToken reads a bearer token from file: its first line, trimmed.
func ReadToken(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	tok, _, _ := strings.Cut(string(b), "\n")
	if tok = strings.TrimSpace(tok); tok == "" {
		return "", fmt.Errorf("read token: %s is empty", file)
	}
	return tok, nil
}

// Observe turns ev into notifications and queues them. It never blocks:
// when the queue is full, the notification is dropped and logged.
func (r *Run) Observe(ev experiments.Event) {
	if r == nil {
		return
	}
	if r.started.IsZero() {
		r.started = ev.Time
		r.start(ev)
	}
	switch ev.Kind {
	case experiments.EventFault:
		if ev.Fault != nil {
			r.fault(ev)
		}
	case experiments.EventRecovery:
		if rs := ev.Recovery; rs != nil {
			switch rs.State {
			case experiments.RecoveryWatching, experiments.RecoveryRelapsed:
				at := rs.At
				r.recovered = &at
			case experiments.RecoveryWaiting:
				r.recovered = nil
			}
		}
	case experiments.EventVerdict:
		r.verdict(ev)
	}
}

func (r *Run) start(ev experiments.Event) {
	p := Payload{Schema: Schema, Event: EventStart, Time: ev.Time, RunID: r.runID, Scenario: r.scenario}
	r.webhooks(p)
	r.slack(EventStart, slackStart(p))
}

func (r *Run) fault(ev experiments.Event) {
	f := *ev.Fault
	st := r.faults[f.ID]
	if st == nil {
		st = &faultSent{}
		r.faults[f.ID] = st
		r.order = append(r.order, f.ID)
	}
	st.last = f
	var states []string
	if f.InjectError != "" && !st.failed {
		st.failed = true
		states = append(states, FaultInjectFailed)
	}
	if f.InjectedAt != nil && !st.injected {
		st.injected = true
		st.checked = f.Effect != ""
		states = append(states, FaultInjected)
	}
	if st.injected && !st.checked && f.Effect != "" && f.RevertedAt == nil {
		// The fact check came after the injection.
		st.checked = true
		states = append(states, FaultChecked)
	}
	if f.RevertedAt != nil && !st.reverted && st.injected {
		st.reverted = true
		if f.RevertError != "" {
			states = append(states, FaultRevertFailed)
		} else {
			states = append(states, FaultReverted)
		}
		r.grafanaRegion(f)
	}
	for _, s := range states {
		p := Payload{Schema: Schema, Event: EventFault, Time: ev.Time, RunID: r.runID, Scenario: r.scenario, Fault: faultInfo(&f, s)}
		r.webhooks(p)
		r.slack(EventFault, slackFault(p))
	}
}

func (r *Run) verdict(ev experiments.Event) {
	p := Payload{Schema: Schema, Event: EventVerdict, Time: ev.Time, RunID: r.runID, Scenario: r.scenario, Verdict: verdictInfo(ev, r.recovered)}
	r.webhooks(p)
	r.slack(EventVerdict, slackVerdict(p))
	for _, id := range r.order {
		if st := r.faults[id]; st.injected && !st.reverted {
			// Instantaneous (a kill), or never reverted: a point, not a region.
			r.grafanaPoint(st.last, p.Verdict.Verdict)
		}
	}
	r.grafanaVerdict(p, r.started)
}

func (r *Run) webhooks(p Payload) {
	for i, w := range r.cfg.Webhooks {
		if !wants(w.Events, eventNames, p.Event) {
			continue
		}
		body := mustJSON(p)
		u := w.URL
		r.enqueue(r.webhookLanes[i], item{sink: "webhook", event: p.Event, reqs: func() []request {
			return []request{{method: http.MethodPost, url: u, body: body}}
		}})
	}
}

func (r *Run) slack(event string, m slackMessage) {
	for i, s := range r.cfg.Slack {
		if !wants(s.Events, []string{EventVerdict}, event) {
			continue
		}
		body := mustJSON(m)
		u := s.URL
		r.enqueue(r.slackLanes[i], item{sink: "slack", event: event, reqs: func() []request {
			return []request{{method: http.MethodPost, url: u, body: body}}
		}})
	}
}

func (r *Run) enqueue(l *lane, it item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	select {
	case l.queue <- it:
	default:
		r.log.Warn().Str("sink", it.sink).Str("event", it.event).Int("queue", cap(l.queue)).Msg("notification queue full: notification dropped")
	}
}

// Close waits, at most Options.Drain, for the queued notifications to go
// out, then drops what is left with a log line.
func (r *Run) Close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		for _, l := range r.lanes() {
			close(l.queue)
		}
	}
	r.mu.Unlock()
	t := time.NewTimer(r.o.Drain)
	defer t.Stop()
	for _, l := range r.lanes() {
		select {
		case <-l.done:
		case <-t.C:
			r.cancel() // every try and wait ends with the context
			<-l.done
		}
	}
	r.cancel()
	for _, l := range r.lanes() {
		if l.dropped > 0 {
			r.log.Warn().Str("sink", l.sink).Int("dropped", l.dropped).Dur("drain", r.o.Drain).Msg("notifications still queued at the end of the drain were dropped")
		}
	}
}

// send delivers l's queue in order until it is closed and empty, or the
// drain is over.
func (r *Run) send(l *lane) {
	defer close(l.done)
	for it := range l.queue {
		if r.ctx.Err() != nil {
			l.dropped++
			continue
		}
		for _, rq := range it.reqs() {
			if !r.deliver(it, rq) && r.ctx.Err() != nil {
				l.dropped++
			}
		}
	}
}

// errStatus is a response that is not 2xx.
type errStatus struct {
	code int
	body string
}

func (e *errStatus) Error() string {
	if e.body == "" {
		return fmt.Sprintf("HTTP %d", e.code)
	}
	return fmt.Sprintf("HTTP %d: %s", e.code, e.body)
}

// retryable: the receiver may take it later (a network error, a timeout,
// 5xx, 408, 429); any other 4xx will be refused again.
func retryable(err error) bool {
	var se *errStatus
	if errors.As(err, &se) {
		return se.code >= 500 || se.code == http.StatusTooManyRequests || se.code == http.StatusRequestTimeout
	}
	return true
}

// deliver sends rq, trying up to Options.Tries times with a doubling
// backoff, and logs the outcome. It reports whether rq was delivered.
func (r *Run) deliver(it item, rq request) bool {
	log := r.log.With().Str("sink", it.sink).Str("event", it.event).Str("method", rq.method).Str("receiver", redact(rq.url)).Logger()
	wait := r.o.Backoff
	for try := 1; ; try++ {
		body, err := r.try(rq)
		if err == nil {
			if rq.onOK != nil {
				rq.onOK(body)
			}
			log.Debug().Int("tries", try).Msg("notification delivered")
			return true
		}
		if !retryable(err) || try >= r.o.Tries || r.ctx.Err() != nil {
			log.Error().Err(err).Int("tries", try).Msg("notification not delivered")
			return false
		}
		log.Warn().Err(err).Int("try", try).Dur("retry_in", wait).Msg("notification failed; retrying")
		t := time.NewTimer(wait)
		select {
		case <-r.ctx.Done():
			t.Stop()
			log.Error().Err(err).Int("tries", try).Msg("notification not delivered: the drain is over")
			return false
		case <-t.C:
		}
		wait *= 2
	}
}

// try is one request under Options.TryTimeout; it returns the response
// body of a 2xx answer.
func (r *Run) try(rq request) ([]byte, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.o.TryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, rq.method, rq.url, bytes.NewReader(rq.body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "chaosctl")
	if rq.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+rq.bearer)
	}
	resp, err := r.o.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &errStatus{code: resp.StatusCode, body: strings.TrimSpace(string(body[:min(len(body), 200)]))}
	}
	return body, err
}

// redact is u without its path and query: a Slack webhook's path is its
// secret.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(bad URL)"
	}
	return p.Scheme + "://" + p.Host
}

// faultLabel is how a message names a fault: "kill-api on process:42".
func faultLabel(f *FaultInfo) string {
	return f.Name + " on " + f.Target
}

// durationOf is vi's time to recover, "" when there is none.
func durationOf(vi *VerdictInfo) string {
	if vi.TimeToRecoverNS == nil {
		return ""
	}
	return time.Duration(*vi.TimeToRecoverNS).Round(time.Millisecond).String()
}

var _ experiments.Observer = (*Run)(nil).Observe

// verdictOK reports whether v counts as a pass.
func verdictOK(v string) bool { return v == string(journal.Passed) }
