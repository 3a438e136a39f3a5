package daemon

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/daemon/store"
	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/scenarios"
)

// maxBody bounds request bodies (a scenario file's content at most);
// a larger one gets 413.
const maxBody = 1 << 20

// maxHeaderBytes bounds a request's headers.
const maxHeaderBytes = 64 << 10

// keepaliveEvery is how often an idle event stream gets a comment line.
const keepaliveEvery = 15 * time.Second

// Handler is the API, answering in the api package's types. token, when not nil, is required as a bearer token
// on every request (the TCP listener); the unix socket relies on its file
// mode instead.
func (d *Daemon) Handler(token []byte) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, d.Status()) })
	mux.HandleFunc("GET /v1/scenarios", d.handleScenarios)
	mux.HandleFunc("GET /v1/scenarios/{name}", d.handleScenario)
	mux.HandleFunc("POST /v1/runs", d.handleStart)
	mux.HandleFunc("GET /v1/runs", d.handleHistory)
	mux.HandleFunc("GET /v1/runs/{id}", d.handleRun)
	mux.HandleFunc("GET /v1/runs/{id}/events", d.handleEvents)
	mux.HandleFunc("POST /v1/runs/{id}/abort", d.handleAbort)
	mux.HandleFunc("POST /v1/halt", d.handleHalt)
	mux.HandleFunc("POST /v1/resume", d.handleResume)
	mux.HandleFunc("GET /v1/faults", d.handleFaults)
	mux.HandleFunc("POST /v1/faults/retry", d.handleRetryFaults)
	mux.HandleFunc("POST /v1/faults/forget", d.handleForgetFault)
	d.agentRoutes(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	var h http.Handler = mux
	if token != nil {
		want := []byte("Bearer " + string(token))
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := []byte(r.Header.Get("Authorization"))
			if subtle.ConstantTimeCompare(got, want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="chaosctl"`)
				writeErr(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token"))
				return
			}
			mux.ServeHTTP(w, r)
		})
	}
	// A client that stops reading cannot hold its connection for ever:
	// every response must be written within write_timeout (event streams
	// renew it at each write). Not the server's WriteTimeout, which would
	// end every stream after that time.
	wt := d.cfg.API.WriteTimeout.Duration
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wt))
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, api.ErrorResponse{Error: err.Error(), Code: api.Code(err)})
}

// statusOf maps the daemon's sentinels to HTTP status codes.
func statusOf(err error) int {
	switch {
	case errors.Is(err, api.ErrUnknownScenario), errors.Is(err, api.ErrUnknownRun):
		return http.StatusNotFound
	case errors.Is(err, api.ErrHalted), errors.Is(err, api.ErrAlreadyRunning), errors.Is(err, api.ErrRunFinished):
		return http.StatusConflict
	case errors.Is(err, api.ErrTooManyRuns):
		return http.StatusTooManyRequests
	case errors.Is(err, api.ErrShuttingDown):
		return http.StatusServiceUnavailable
	case errors.Is(err, api.ErrCommandsForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrBadResolution):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func (d *Daemon) handleScenarios(w http.ResponseWriter, _ *http.Request) {
	list, errs := d.Scenarios()
	if errs == nil {
		errs = []api.LoadError{}
	}
	writeJSON(w, http.StatusOK, api.ScenariosResponse{Scenarios: list, Errors: errs})
}

func (d *Daemon) handleScenario(w http.ResponseWriter, r *http.Request) {
	sd, err := d.scenarioDetail(r.PathValue("name"))
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, sd)
}

// scenarioDetail is one loaded scenario with its file's content (read now: the
// file as loaded, unless it changed since and the reload is pending).
func (d *Daemon) scenarioDetail(name string) (api.ScenarioDetail, error) {
	list, _ := d.Scenarios()
	d.mu.Lock()
	sc, ok := d.scenarios[name]
	d.mu.Unlock()
	if !ok {
		return api.ScenarioDetail{}, fmt.Errorf("%w: %q", api.ErrUnknownScenario, name)
	}
	sd := api.ScenarioDetail{Postmortem: api.PostmortemInfo{ID: sc.Postmortem.ID, URL: sc.Postmortem.URL, Date: sc.Postmortem.Date, Summary: sc.Postmortem.Summary}}
	for _, si := range list {
		if si.Name == name {
			sd.ScenarioInfo = si
		}
	}
	if sc.Path != "" {
		b, err := os.ReadFile(sc.Path)
		if err != nil {
			return api.ScenarioDetail{}, fmt.Errorf("scenario %s: %w", name, err)
		}
		sd.Content = string(b)
	}
	return sd, nil
}

// readBody reads a request's body: 413 when it is larger than maxBody, 408
// when it does not arrive within body_timeout, 400 when it breaks off.
func (d *Daemon) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	// A body trickled in slowly must not hold the handler for ever (no
	// server-wide ReadTimeout: it would cut the event streams short).
	rc := http.NewResponseController(w)
	timeout := d.cfg.API.BodyTimeout.Duration
	_ = rc.SetReadDeadline(time.Now().Add(timeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	// Cleared, or the server's watch for a closed connection would end
	// the request's context when the deadline passes while it is handled.
	_ = rc.SetReadDeadline(time.Time{})
	var tooLarge *http.MaxBytesError
	var ne net.Error
	switch {
	case err == nil:
		return body, 0, nil
	case errors.As(err, &tooLarge):
		w.Header().Set("Connection", "close")
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", tooLarge.Limit)
	case errors.As(err, &ne) && ne.Timeout():
		w.Header().Set("Connection", "close")
		return nil, http.StatusRequestTimeout, fmt.Errorf("request body not received within %s (api.body_timeout)", timeout)
	}
	return nil, http.StatusBadRequest, fmt.Errorf("malformed body: %w", err)
}

func (d *Daemon) handleStart(w http.ResponseWriter, r *http.Request) {
	body, code, err := d.readBody(w, r)
	if err != nil {
		writeErr(w, code, err)
		return
	}
	var req api.StartRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("malformed body: %w", err))
		return
	}
	if dec.More() {
		writeErr(w, http.StatusBadRequest, errors.New("malformed body: more than one JSON value"))
		return
	}
	var sc *scenarios.Scenario
	trigger := "api"
	switch {
	case req.Scenario != "" && req.Content != "":
		writeErr(w, http.StatusBadRequest, errors.New("malformed body: give scenario or content, not both"))
		return
	case req.Scenario != "":
		if sc, err = d.Scenario(req.Scenario); err != nil {
			writeErr(w, statusOf(err), err)
			return
		}
	case req.Content != "":
		trigger = "file"
		name := req.File
		if name == "" {
			name = "request.toml"
		}
		sc, err = scenarios.Parse(r.Context(), name, []byte(req.Content), d.catalog)
		if err != nil {
			resp := api.ErrorResponse{Error: fmt.Sprintf("%s is invalid", name)}
			var list scenarios.ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					resp.Errors = append(resp.Errors, e.Error())
				}
				resp.Error = fmt.Sprintf("%s is invalid: %d errors", name, len(list))
			} else {
				resp.Errors = []string{err.Error()}
			}
			writeJSON(w, http.StatusBadRequest, resp)
			return
		}
		// Only scenarios from the scenario directories (whose owner and
		// mode the daemon checks) may run commands, when policy says so.
		if !d.current().Policy.AllowCommands {
			if uses := commandUses(sc); len(uses) > 0 {
				err := fmt.Errorf("%s runs commands: %w; only scenarios in the daemon's scenario directories may", name, api.ErrCommandsForbidden)
				writeJSON(w, http.StatusForbidden, api.ErrorResponse{Error: err.Error(), Code: api.Code(err), Errors: uses})
				return
			}
		}
	default:
		writeErr(w, http.StatusBadRequest, errors.New(`malformed body: want {"scenario": NAME} or {"file": NAME, "content": TOML}`))
		return
	}
	id, err := d.Start(sc, trigger, req.DryRun)
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusCreated, api.StartResponse{RunID: id, Scenario: sc.Name})
}

func (d *Daemon) handleHistory(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("limit: want a number >= 0 (0: all), got %q", s))
			return
		}
		limit = n
	}
	h, err := d.History(limit, r.URL.Query().Get("scenario"))
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	if h == nil {
		h = []store.RunSummary{}
	}
	writeJSON(w, http.StatusOK, h)
}

func (d *Daemon) handleRun(w http.ResponseWriter, r *http.Request) {
	j, err := d.Run(r.PathValue("id"))
	if err == nil {
		j, err = thinned(j, r.URL.Query()) // ?resolution=1s or ?points=2000
	}
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

// handleEvents streams a run's events as server-sent events, each an
// experiments.Event as JSON, from the start of the run; the stream ends
// after the verdict. For a finished run it is just the verdict.
func (d *Daemon) handleEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d.mu.Lock()
	run, live := d.runs[id]
	d.mu.Unlock()
	var past []experiments.Event
	var ch chan experiments.Event
	if live {
		var unsub func()
		past, ch, unsub = run.subscribe()
		defer unsub()
	} else {
		j, err := d.Run(id)
		if err != nil {
			writeErr(w, statusOf(err), err)
			return
		}
		past = []experiments.Event{{Time: j.EndedAt, RunID: id, Kind: experiments.EventVerdict, Phase: journal.PhaseVerdict, Verdict: j.Verdict, Reasons: j.Reasons}}
	}
	rc := http.NewResponseController(w)
	wt := d.cfg.API.WriteTimeout.Duration
	// write sends one chunk of the stream; a client that does not take it
	// within write_timeout ends the stream and frees its connection.
	write := func(chunk string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(wt))
		if _, err := io.WriteString(w, chunk); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	send := func(ev experiments.Event) bool {
		b, err := json.Marshal(ev)
		if err != nil {
			return false
		}
		return write(fmt.Sprintf("event: %s\ndata: %s\n\n", ev.Kind, b))
	}
	for _, ev := range past {
		if !send(ev) {
			return
		}
	}
	if ch == nil {
		return
	}
	keepalive := time.NewTicker(keepaliveEvery)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-ch:
			if !ok || !send(ev) {
				return
			}
		case <-keepalive.C:
			if !write(": keepalive\n\n") {
				return
			}
		}
	}
}

func (d *Daemon) handleAbort(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := d.Abort(id); err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"run_id": id, "status": "aborting"})
}

func (d *Daemon) handleHalt(w http.ResponseWriter, _ *http.Request) {
	ids, err := d.Halt()
	if ids == nil {
		ids = []string{}
	}
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, api.HaltResponse{Halted: true, Aborted: ids})
}

func (d *Daemon) handleResume(w http.ResponseWriter, _ *http.Request) {
	if err := d.Resume(); err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, api.HaltResponse{Halted: false, Aborted: []string{}})
}

// Serve listens (unix socket and, when configured, TCP), schedules and
// watches the scenario directories until ctx ends; then it aborts every
// run, waits until their faults are reverted and stored, and returns.
// ready, when not nil, is called once the API is listening.
func (d *Daemon) Serve(ctx context.Context, ready func()) error {
	var servers []*http.Server
	var lns []net.Listener
	closeAll := func() {
		for _, l := range lns {
			l.Close()
		}
	}
	if s := d.cfg.API.Socket; s != "" {
		l, err := listenUnix(s, d.cfg.SocketFileMode())
		if err != nil {
			_ = d.shutdown()
			return err
		}
		lns = append(lns, limitListener(l, d.cfg.API.MaxConnections))
		servers = append(servers, d.newServer(d.Handler(nil)))
	}
	if a := d.cfg.API.Listen; a != "" {
		tok, err := os.ReadFile(d.cfg.API.TokenFile)
		if err == nil && len(bytes.TrimSpace(tok)) == 0 {
			err = errors.New("file is empty")
		}
		if err != nil {
			closeAll()
			_ = d.shutdown()
			return fmt.Errorf("api.token_file %s: %w", d.cfg.API.TokenFile, err)
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			closeAll()
			_ = d.shutdown()
			return fmt.Errorf("api.listen: %w", err)
		}
		// Counted below TLS: a handshake that never ends holds a slot
		// only until read_header_timeout.
		l = limitListener(l, d.cfg.API.MaxConnections)
		if d.cfg.API.TLSCert != "" {
			cert, err := tls.LoadX509KeyPair(d.cfg.API.TLSCert, d.cfg.API.TLSKey)
			if err != nil {
				l.Close()
				closeAll()
				_ = d.shutdown()
				return fmt.Errorf("api.tls_cert/tls_key: %w", err)
			}
			l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		}
		tok = bytes.TrimSpace(tok)
		h, err := d.uiHandler(d.tcpHandler(tok), tok, d.cfg.API.TLSCert != "")
		if err != nil {
			l.Close()
			closeAll()
			_ = d.shutdown()
			return err
		}
		lns = append(lns, l)
		servers = append(servers, d.newServer(h))
	}
	for i, srv := range servers {
		go func() { _ = srv.Serve(lns[i]) }()
	}
	if err := d.watch(ctx); err != nil {
		d.log.Warn().Err(err).Msg("scenario directories not watched; reload with SIGHUP")
	}
	d.cron.Start()
	d.log.Info().Str("socket", d.cfg.API.Socket).Str("listen", d.cfg.API.Listen).Str("store", d.store.Path()).Msg("daemon ready")
	if ready != nil {
		ready()
	}
	<-ctx.Done()
	d.log.Info().Msg("shutting down: aborting runs and reverting their faults")
	// Runs end first, so clients streaming them see their verdicts; the
	// store closes last, so no request in flight meets a closed store.
	d.stopRuns()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		if serr := srv.Shutdown(sctx); serr != nil {
			srv.Close()
		}
	}
	err := d.store.Close()
	if s := d.cfg.API.Socket; s != "" {
		os.Remove(s)
	}
	d.log.Info().Msg("stopped")
	return err
}

// newServer is an API server whose clients cannot hold connections for
// ever: headers within read_header_timeout, kept-alive connections closed
// after idle_timeout, every response written within write_timeout (see
// Handler), bodies read within body_timeout (see readBody).
func (d *Daemon) newServer(h http.Handler) *http.Server {
	a := d.cfg.API
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: a.ReadHeaderTimeout.Duration,
		IdleTimeout:       a.IdleTimeout.Duration,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(httpLog{d.log}, "", 0),
	}
}

// httpLog sends net/http's own messages (TLS handshake errors, panics in
// handlers) to the daemon's log.
type httpLog struct{ log zerolog.Logger }

func (l httpLog) Write(b []byte) (int, error) {
	l.log.Warn().Str("from", "net/http").Msg(strings.TrimSpace(string(b)))
	return len(b), nil
}

// listenUnix listens on a unix socket with mode. A socket file nobody
// answers on is stale and replaced; one somebody answers on is an error.
//
// The socket is never reachable with a mode wider than mode, whatever the
// umask: it is made in a fresh directory only its owner may enter, given
// its mode there, and renamed into place.
func listenUnix(path string, mode os.FileMode) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("api.socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("api.socket %s: another daemon is listening on it", path)
	}
	private, err := os.MkdirTemp(dir, ".chaosctl-")
	if err != nil {
		return nil, fmt.Errorf("api.socket: %w", err)
	}
	defer os.RemoveAll(private)
	if err := os.Chmod(private, 0o700); err != nil {
		return nil, fmt.Errorf("api.socket: %w", err)
	}
	tmp := filepath.Join(private, "s")
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("api.socket: %w", err)
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // the file moves; Serve removes it at the end
	if err := os.Chmod(tmp, mode); err != nil {
		l.Close()
		return nil, fmt.Errorf("api.socket: %w", err)
	}
	// Atomic, and it replaces a stale socket.
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		return nil, fmt.Errorf("api.socket: %w", err)
	}
	return l, nil
}
