package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/daemon/store"
	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/report"
	"github.com/chaosctl/chaosctl/scenarios"
)

// page is what every template gets: the layout's parts (HALT, the halted
// banner, runs in progress) and the page's own Data.
type page struct {
	Title     string
	Path      string // the page's own path, where HALT and resume come back to
	CSRF      string
	Halted    bool
	Active    []api.RunStatus
	DaemonErr string
	NoSession bool
	LoginForm bool // the sign-in form (a Handler with a Token); CSRF is the form's
	Message   string
	Live      bool // load the live run script
	Prefix    string
	Data      any
}

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	},
	"timep": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "-"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	},
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	"dash": func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	},
	"pathesc": url.PathEscape,
	"upper":   func(v journal.Verdict) string { return strings.ToUpper(string(v)) },
	"score":   func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"dur": func(a, b time.Time) string {
		if a.IsZero() || b.IsZero() {
			return "-"
		}
		return b.Sub(a).Round(100 * time.Millisecond).String()
	},
}

// render writes a page. With a session, it asks the daemon whether it is
// halted and what runs, for the layout.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, s *session, p page) {
	p.Prefix = h.prefix
	if s != nil {
		p.CSRF = s.csrf
		p.Path = r.URL.Path
		st, err := h.api.Status(r.Context())
		if err != nil {
			p.DaemonErr = err.Error()
		} else {
			p.Halted, p.Active = st.Halted, st.Active
		}
	}
	var b bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&b, "layout.tmpl", p); err != nil {
		h.log.Error().Err(err).Str("page", name).Msg("render page")
		http.Error(w, "page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, s *session, msg string) {
	h.render(w, r, http.StatusNotFound, "error", s, page{Title: "Not found", Message: msg})
}

// apiError renders what the daemon answered (or that it did not answer)
// with the daemon's status code: 404 for an unknown run or scenario, 409
// when halted, 502 when the daemon is unreachable.
func (h *Handler) apiError(w http.ResponseWriter, r *http.Request, s *session, err error) {
	code := http.StatusBadGateway
	var ae *api.APIError
	if errors.As(err, &ae) {
		code = ae.Status
	}
	msg := err.Error()
	if ae != nil && len(ae.Errors) > 0 {
		msg += ": " + strings.Join(ae.Errors, "; ")
	}
	title := "The daemon refused"
	switch {
	case code == http.StatusNotFound:
		title = "Not found"
	case errors.Is(err, api.ErrHalted):
		title = "Halted"
		msg = "The daemon is halted: no run may start until it is resumed. " + msg
	case code == http.StatusBadGateway:
		title = "Daemon unreachable"
	}
	h.render(w, r, code, "error", s, page{Title: title, Message: msg})
}

// postmortem is a scenario's incident as pages show it; Link only for an
// http(s) URL, so a javascript: URL is never a link.
type postmortem struct {
	scenarios.Postmortem
	Link bool
}

func safeURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// scenarioDetail asks the daemon for a scenario's TOML and post-mortem.
func (h *Handler) scenarioDetail(ctx context.Context, name string) (string, postmortem, error) {
	sd, err := h.api.Scenario(ctx, name)
	if err != nil {
		return "", postmortem{}, err
	}
	pm := scenarios.Postmortem{ID: sd.Postmortem.ID, URL: sd.Postmortem.URL, Date: sd.Postmortem.Date, Summary: sd.Postmortem.Summary}
	return sd.Content, postmortem{Postmortem: pm, Link: safeURL(pm.URL)}, nil
}

type scenarioRow struct {
	api.ScenarioInfo
	PM   postmortem
	Last *store.RunSummary
}

func (h *Handler) pageScenarios(w http.ResponseWriter, r *http.Request, s *session) {
	list, err := h.api.Scenarios(r.Context())
	if err != nil {
		h.apiError(w, r, s, err)
		return
	}
	hist, err := h.api.History(r.Context(), 500, "")
	if err != nil {
		h.apiError(w, r, s, err)
		return
	}
	last := map[string]*store.RunSummary{}
	for i := range hist { // newest first
		if _, ok := last[hist[i].Scenario]; !ok {
			last[hist[i].Scenario] = &hist[i]
		}
	}
	slices.SortFunc(list.Scenarios, func(a, b api.ScenarioInfo) int { return strings.Compare(a.Name, b.Name) })
	var rows []scenarioRow
	for _, si := range list.Scenarios {
		_, pm, err := h.scenarioDetail(r.Context(), si.Name)
		if err != nil && !errors.Is(err, api.ErrUnknownScenario) { // unloaded since the list: no post-mortem
			h.apiError(w, r, s, err)
			return
		}
		rows = append(rows, scenarioRow{ScenarioInfo: si, PM: pm, Last: last[si.Name]})
	}
	h.render(w, r, http.StatusOK, "scenarios", s, page{Title: "Scenarios", Data: struct {
		Rows   []scenarioRow
		Errors []api.LoadError
	}{rows, list.Errors}})
}

// scenario finds a loaded scenario by name.
func (h *Handler) scenario(ctx context.Context, name string) (*api.ScenarioInfo, error) {
	list, err := h.api.Scenarios(ctx)
	if err != nil {
		return nil, err
	}
	for _, si := range list.Scenarios {
		if si.Name == name {
			return &si, nil
		}
	}
	return nil, nil
}

// journals fetches the journals of runs, newest first, at most n.
func (h *Handler) journals(ctx context.Context, runs []store.RunSummary, n int) ([]*journal.Journal, error) {
	var js []*journal.Journal
	for i, rs := range runs {
		if i == n {
			break
		}
		j, err := h.api.Run(ctx, rs.RunID)
		if err != nil {
			return nil, err
		}
		js = append(js, j)
	}
	return js, nil
}

// loadedScenario is the scenario name, or false with the error page
// (the API's error, or not found) already written.
func (h *Handler) loadedScenario(w http.ResponseWriter, r *http.Request, s *session, name string) (*api.ScenarioInfo, bool) {
	si, err := h.scenario(r.Context(), name)
	if err != nil {
		h.apiError(w, r, s, err)
		return nil, false
	}
	if si == nil {
		h.notFound(w, r, s, fmt.Sprintf("No scenario named %q is loaded.", name))
		return nil, false
	}
	return si, true
}

func (h *Handler) pageScenario(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	si, ok := h.loadedScenario(w, r, s, name)
	if !ok {
		return
	}
	runs, err := h.api.History(r.Context(), 100, name)
	if err != nil {
		h.apiError(w, r, s, err)
		return
	}
	js, err := h.journals(r.Context(), runs, 30)
	if err != nil {
		h.apiError(w, r, s, err)
		return
	}
	src, pm, err := h.scenarioDetail(r.Context(), name)
	if err != nil {
		h.apiError(w, r, s, err)
		return
	}
	h.render(w, r, http.StatusOK, "scenario", s, page{Title: si.Name, Data: struct {
		Info  *api.ScenarioInfo
		PM    postmortem
		TOML  string
		Runs  []store.RunSummary
		Trend template.HTML
		Score report.Score
	}{si, pm, src, runs, trendSVG(js), report.ComputeScore(js, report.DefaultScoreRuns)}})
}

func (h *Handler) pageStart(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	si, ok := h.loadedScenario(w, r, s, name)
	if !ok {
		return
	}
	h.render(w, r, http.StatusOK, "start", s, page{Title: "Start " + si.Name, Data: struct {
		Info    *api.ScenarioInfo
		Preview *journal.Journal
	}{si, nil}})
}

// previewTimeout bounds the wait for a dry run's verdict.
const previewTimeout = time.Minute

// postPreview runs the scenario dry (preflight only: the exact targets,
// nothing injected) and shows its targets with a confirmation button.
func (h *Handler) postPreview(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	si, ok := h.loadedScenario(w, r, s, name)
	if !ok {
		return
	}
	res, err := h.api.Start(r.Context(), api.StartRequest{Scenario: name, DryRun: true})
	if err != nil {
		h.apiError(w, r, s, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), previewTimeout)
	defer cancel()
	if err := h.api.Events(ctx, res.RunID, func(experiments.Event) {}); err != nil {
		h.apiError(w, r, s, fmt.Errorf("dry run %s: %w", res.RunID, err))
		return
	}
	// The verdict is streamed before the run is stored: the stored journal
	// is the one with the resolved targets.
	var j *journal.Journal
	for {
		if j, err = h.api.Run(ctx, res.RunID); err != nil {
			h.apiError(w, r, s, err)
			return
		}
		if j.Verdict != journal.Running {
			break
		}
		select {
		case <-ctx.Done():
			h.apiError(w, r, s, fmt.Errorf("dry run %s: no verdict within %s", res.RunID, previewTimeout))
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	h.render(w, r, http.StatusOK, "start", s, page{Title: "Start " + si.Name, Data: struct {
		Info    *api.ScenarioInfo
		Preview *journal.Journal
	}{si, j}})
}

func (h *Handler) postRun(w http.ResponseWriter, r *http.Request, s *session) {
	res, err := h.api.Start(r.Context(), api.StartRequest{Scenario: r.PathValue("name")})
	if err != nil {
		h.apiError(w, r, s, err)
		return
	}
	http.Redirect(w, r, h.prefix+"/runs/"+url.PathEscape(res.RunID), http.StatusSeeOther)
}

func (h *Handler) pageLive(w http.ResponseWriter, r *http.Request, s *session) {
	j, err := h.api.Run(r.Context(), r.PathValue("id"))
	if err != nil {
		h.apiError(w, r, s, err)
		return
	}
	var phase journal.PhaseName
	if n := len(j.Phases); n > 0 {
		phase = j.Phases[n-1].Name
	}
	h.render(w, r, http.StatusOK, "live", s, page{Title: "Run " + j.RunID, Live: true, Data: struct {
		J       *journal.Journal
		Running bool
		Phase   string
	}{j, j.Verdict == journal.Running, string(phase)}})
}

// streamEvents proxies the run's event stream (GET /v1/runs/{id}/events)
// to the browser as server-sent events, one per event, until the verdict.
func (h *Handler) streamEvents(w http.ResponseWriter, r *http.Request, s *session) {
	rc := http.NewResponseController(w)
	started := false
	err := h.api.Events(r.Context(), r.PathValue("id"), func(ev experiments.Event) {
		if !started {
			started = true
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
		}
		b, err := jsonMarshal(ev)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Kind, b)
		_ = rc.Flush()
	})
	if err != nil && !started && r.Context().Err() == nil {
		code := http.StatusBadGateway
		var ae *api.APIError
		if errors.As(err, &ae) {
			code = ae.Status
		}
		http.Error(w, err.Error(), code)
	}
}

func (h *Handler) postAbort(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if err := h.api.Abort(r.Context(), id); err != nil {
		h.apiError(w, r, s, err)
		return
	}
	http.Redirect(w, r, h.prefix+"/runs/"+url.PathEscape(id), http.StatusSeeOther)
}

// back is where a POST from a page returns: the page's own path, never
// another site.
func back(r *http.Request) string {
	p := r.PostFormValue("back")
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return "/"
	}
	return p
}

func (h *Handler) postHalt(w http.ResponseWriter, r *http.Request, s *session) {
	if _, err := h.api.Halt(r.Context()); err != nil {
		h.apiError(w, r, s, err)
		return
	}
	http.Redirect(w, r, h.prefix+back(r), http.StatusSeeOther)
}

func (h *Handler) postResume(w http.ResponseWriter, r *http.Request, s *session) {
	if err := h.api.Resume(r.Context()); err != nil {
		h.apiError(w, r, s, err)
		return
	}
	http.Redirect(w, r, h.prefix+back(r), http.StatusSeeOther)
}

// historyFilter is the History page's form.
type historyFilter struct {
	Scenario, Verdict, Trigger string
	Limit                      int
}

// verdicts are the verdicts the History filter offers.
var verdicts = []journal.Verdict{journal.Passed, journal.Failed, journal.Aborted, journal.NotSteady, journal.Error,
	journal.Interrupted, journal.Inconclusive, journal.Running}

func (h *Handler) pageHistory(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	f := historyFilter{Scenario: q.Get("scenario"), Verdict: q.Get("verdict"), Trigger: q.Get("trigger"), Limit: 50}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 && n <= 500 {
		f.Limit = n
	}
	runs, err := h.api.History(r.Context(), 500, f.Scenario)
	if err != nil {
		h.apiError(w, r, s, err)
		return
	}
	kept := runs[:0]
	for _, rs := range runs {
		if (f.Verdict == "" || string(rs.Verdict) == f.Verdict) && (f.Trigger == "" || rs.Trigger == f.Trigger) {
			kept = append(kept, rs)
		}
	}
	if len(kept) > f.Limit {
		kept = kept[:f.Limit]
	}
	js, err := h.journals(r.Context(), kept, f.Limit)
	if err != nil {
		h.apiError(w, r, s, err)
		return
	}
	list, _ := h.api.Scenarios(r.Context())
	var names []string
	for _, si := range list.Scenarios {
		names = append(names, si.Name)
	}
	slices.Sort(names)
	h.render(w, r, http.StatusOK, "history", s, page{Title: "History", Data: struct {
		F         historyFilter
		Runs      []store.RunSummary
		Score     report.Score
		Names     []string
		Verdicts  []journal.Verdict
		Triggers  []string
		ScoreRuns int
	}{f, kept, report.ComputeScore(js, report.DefaultScoreRuns), names, verdicts, []string{"api", "file", "schedule"}, report.DefaultScoreRuns}})
}

// runJSON is the run's journal, for the live page's last drawing.
func (h *Handler) runJSON(w http.ResponseWriter, r *http.Request, s *session) {
	j, err := h.api.Run(r.Context(), r.PathValue("id"))
	if err != nil {
		code := http.StatusBadGateway
		var ae *api.APIError
		if errors.As(err, &ae) {
			code = ae.Status
		}
		http.Error(w, err.Error(), code)
		return
	}
	b, err := jsonMarshal(j)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
