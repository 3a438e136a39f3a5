// Package ui is chaosctl's game-day dashboard: server-rendered pages over
// the daemon's API, for a shared screen. It is an http.Handler that talks
// to the daemon only through its API client (the API interface, which
// *api.Client implements); its assets are embedded, so it works
// air-gapped, and its one script is a small dependency-free file.
//
// Access: a one-time login token (see Handler.LoginToken) opens a session
// held in an HttpOnly, SameSite=Strict cookie; every state-changing request
// is a POST carrying the session's CSRF token; every page is served under
// a Content-Security-Policy that allows no inline script or style.
package ui

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/daemon/store"
	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
)

// API is what the dashboard needs of the daemon: *api.Client.
type API interface {
	Status(ctx context.Context) (api.Status, error)
	Scenarios(ctx context.Context) (api.ScenariosResponse, error)
	Scenario(ctx context.Context, name string) (api.ScenarioDetail, error)
	Start(ctx context.Context, req api.StartRequest) (api.StartResponse, error)
	Run(ctx context.Context, id string) (*journal.Journal, error)
	History(ctx context.Context, limit int, scenario string) ([]store.RunSummary, error)
	Abort(ctx context.Context, id string) error
	Halt(ctx context.Context) (api.HaltResponse, error)
	Resume(ctx context.Context) error
	Events(ctx context.Context, id string, fn func(experiments.Event)) error
}

var _ API = (*api.Client)(nil)

// CSP is every dashboard page's Content-Security-Policy: scripts, styles
// and connections from the dashboard itself only, nothing inline.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Session and login token lifetimes.
const (
	LoginTokenTTL = 10 * time.Minute
	SessionTTL    = 12 * time.Hour
)

// SessionCookie names the session cookie.
const SessionCookie = "chaosctl_session"

//go:embed assets templates
var files embed.FS

// Options configure a Handler.
type Options struct {
	API API
	Log zerolog.Logger
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
	// Prefix is where the handler is mounted, with the prefix stripped
	// before it ("/ui" in the daemon); "": at the root (chaosctl ui).
	// Links, assets, forms, redirects and the cookie's path carry it.
	Prefix string
	// Token, when set, is the password of a login form (the daemon's API
	// bearer token, on its TCP listener); nil: sessions open only with a
	// one-time login token (LoginToken).
	Token []byte
	// Secure marks cookies Secure (the listener is TLS).
	Secure bool
}

// Handler is the dashboard.
type Handler struct {
	api    API
	log    zerolog.Logger
	now    func() time.Time
	prefix string
	token  []byte
	secure bool
	mux    *http.ServeMux
	pages  map[string]*template.Template

	mu       sync.Mutex
	logins   map[string]time.Time // one-time token -> expiry
	sessions map[string]*session  // cookie value -> session
}

type session struct {
	csrf    string
	expires time.Time
}

var _ http.Handler = (*Handler)(nil)

// New builds the dashboard.
func New(o Options) (*Handler, error) {
	if o.API == nil {
		return nil, errors.New("ui: no API client")
	}
	if o.Prefix != "" && (!strings.HasPrefix(o.Prefix, "/") || strings.HasSuffix(o.Prefix, "/")) {
		return nil, errors.New("ui: prefix must start with / and not end with one")
	}
	h := &Handler{api: o.API, log: o.Log, now: o.Now, prefix: o.Prefix, token: o.Token, secure: o.Secure, logins: map[string]time.Time{}, sessions: map[string]*session{}}
	if h.now == nil {
		h.now = time.Now
	}
	pages, err := parsePages(o.Prefix)
	if err != nil {
		return nil, err
	}
	h.pages = pages
	assets, _ := fs.Sub(files, "assets")
	mux := http.NewServeMux()
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /login", h.handleLogin)
	mux.HandleFunc("POST /login", h.postLogin)
	mux.HandleFunc("GET /{$}", h.authed(h.pageScenarios))
	mux.HandleFunc("GET /scenarios/{name}", h.authed(h.pageScenario))
	mux.HandleFunc("GET /scenarios/{name}/start", h.authed(h.pageStart))
	mux.HandleFunc("POST /scenarios/{name}/preview", h.authed(h.csrf(h.postPreview)))
	mux.HandleFunc("POST /scenarios/{name}/run", h.authed(h.csrf(h.postRun)))
	mux.HandleFunc("GET /runs/{id}", h.authed(h.pageLive))
	mux.HandleFunc("GET /runs/{id}/events", h.authed(h.streamEvents))
	mux.HandleFunc("GET /runs/{id}/report", h.authed(h.pageReport))
	mux.HandleFunc("GET /runs/{id}/journal.json", h.authed(h.runJSON))
	mux.HandleFunc("POST /runs/{id}/abort", h.authed(h.csrf(h.postAbort)))
	mux.HandleFunc("GET /history", h.authed(h.pageHistory))
	mux.HandleFunc("POST /halt", h.authed(h.csrf(h.postHalt)))
	mux.HandleFunc("POST /resume", h.authed(h.csrf(h.postResume)))
	mux.HandleFunc("/", h.authed(func(w http.ResponseWriter, r *http.Request, s *session) {
		h.notFound(w, r, s, "There is no page at "+r.URL.Path+".")
	}))
	h.mux = mux
	return h, nil
}

// ServeHTTP serves the dashboard with its security headers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin") // the login URL's token never leaves in a Referer; "no-referrer" would make form posts say Origin: null
	hd.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

func parsePages(prefix string) (map[string]*template.Template, error) {
	base, err := template.New("layout.tmpl").Funcs(funcs).Funcs(template.FuncMap{"base": func() string { return prefix }}).ParseFS(files, "templates/layout.tmpl")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(files, "templates/*.tmpl")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".tmpl")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(files, n)
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}
