package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/chaosctl/chaosctl/daemon/api"
)

// UIPrefix is where the daemon serves the dashboard on its TCP listener.
const UIPrefix = "/ui"

// ErrNoUI: [ui] enabled = true, but the daemon was built without a
// dashboard (Options.UI is nil).
var ErrNoUI = errors.New("ui.enabled, but this daemon has no dashboard (Options.UI)")

// UIMount is what the daemon gives its dashboard: a client of its own API
// (through its unix socket, so the dashboard goes through the same API as
// any other client), where it is mounted, and the password of its login
// form (the TCP listener's bearer token).
type UIMount struct {
	API    *api.Client
	Prefix string // "/ui": the handler is served under Prefix+"/", with Prefix stripped
	Token  []byte
	Secure bool // the listener is TLS: cookies are Secure
}

// UIFactory builds the dashboard. The command that runs the daemon passes
// it in (internal/ui, a client of package api like any other), so the
// server does not link the dashboard's pages and a test can mount a stub.
type UIFactory func(UIMount) (http.Handler, error)

// uiHandler is the TCP listener's handler with the dashboard mounted under
// UIPrefix, when [ui] enabled is set: /ui/ paths authenticate with the
// dashboard's session cookie, every other path is the API (bearer token).
func (d *Daemon) uiHandler(apiH http.Handler, token []byte, secure bool) (http.Handler, error) {
	if !d.cfg.UI.Enabled {
		return apiH, nil
	}
	if d.uiFactory == nil {
		return nil, ErrNoUI
	}
	c, err := api.NewClient(api.ClientOptions{Socket: d.cfg.API.Socket})
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	ui, err := d.uiFactory(UIMount{API: c, Prefix: UIPrefix, Token: token, Secure: secure})
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	ui = http.StripPrefix(UIPrefix, ui)
	// No write deadline here (the API's write_timeout would end the live
	// page's event stream); the dashboard's own requests to the API have it.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == UIPrefix:
			http.Redirect(w, r, UIPrefix+"/", http.StatusMovedPermanently)
		case strings.HasPrefix(p, UIPrefix+"/"):
			ui.ServeHTTP(w, r)
		default:
			apiH.ServeHTTP(w, r)
		}
	}), nil
}
