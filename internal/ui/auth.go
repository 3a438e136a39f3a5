package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
)

// LoginToken makes a one-time login token, good for LoginTokenTTL: the
// URL /login?token=TOKEN opens a session once.
func (h *Handler) LoginToken() string {
	tok := randToken()
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	for t, exp := range h.logins {
		if now.After(exp) {
			delete(h.logins, t)
		}
	}
	h.logins[tok] = now.Add(LoginTokenTTL)
	return tok
}

// LoginURL is base + the login path with a fresh one-time token.
func (h *Handler) LoginURL(base string) string {
	return base + h.prefix + "/login?token=" + url.QueryEscape(h.LoginToken())
}

func randToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// handleLogin trades a one-time token for a session cookie and redirects
// to a URL without the token. A used, expired or unknown token gets a page
// saying how to get a new one.
func (h *Handler) handleLogin(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	h.mu.Lock()
	exp, ok := h.logins[tok]
	delete(h.logins, tok) // one time, whatever happens next
	valid := ok && tok != "" && !h.now().After(exp)
	var s *session
	var id string
	if valid {
		id = randToken()
		s = &session{csrf: randToken(), expires: h.now().Add(SessionTTL)}
		h.sessions[id] = s
	}
	h.mu.Unlock()
	if !valid {
		if tok == "" && h.token != nil {
			h.loginForm(w, r, http.StatusOK, "Sign in")
			return
		}
		h.render(w, r, http.StatusForbidden, "login", nil, page{Title: "Link expired"})
		return
	}
	h.openSession(w, r, id)
}

// openSession sets the session cookie and redirects to the dashboard.
func (h *Handler) openSession(w http.ResponseWriter, r *http.Request, id string) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: h.prefix + "/", HttpOnly: true, Secure: h.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(SessionTTL.Seconds())})
	http.Redirect(w, r, h.prefix+"/", http.StatusSeeOther)
}

// LoginCookie holds the login form's CSRF token before there is a
// session (a double-submit cookie: the form must carry the same value).
const LoginCookie = "chaosctl_login"

// loginForm is the sign-in page of a Handler with a Token: a password
// field for the API token, and a fresh CSRF token in the form and in a
// short-lived cookie.
func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request, code int, title string) {
	c := randToken()
	http.SetCookie(w, &http.Cookie{Name: LoginCookie, Value: c, Path: h.prefix + "/login", HttpOnly: true, Secure: h.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(LoginTokenTTL.Seconds())})
	h.render(w, r, code, "login", nil, page{Title: title, NoSession: true, LoginForm: true, CSRF: c})
}

// postLogin trades the API token, typed into the login form, for a
// session. The form's CSRF token must match its cookie; a wrong API token
// is a 403 page and nothing else.
func (h *Handler) postLogin(w http.ResponseWriter, r *http.Request) {
	if h.token == nil {
		h.render(w, r, http.StatusNotFound, "login", nil, page{Title: "Not signed in", NoSession: true})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	form := r.PostFormValue("csrf")
	c, err := r.Cookie(LoginCookie)
	bad := err != nil || form == "" || subtle.ConstantTimeCompare([]byte(form), []byte(c.Value)) != 1
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
		bad = true
	}
	if bad {
		h.render(w, r, http.StatusForbidden, "error", nil, page{Title: "Forbidden", NoSession: true,
			Message: "This sign-in did not carry the form's security token (CSRF). Reload the sign-in page and try again."})
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("token")), h.token) != 1 {
		h.render(w, r, http.StatusForbidden, "error", nil, page{Title: "Wrong token", NoSession: true,
			Message: "That is not the daemon's API token."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: LoginCookie, Path: h.prefix + "/login", MaxAge: -1})
	id := randToken()
	h.mu.Lock()
	h.sessions[id] = &session{csrf: randToken(), expires: h.now().Add(SessionTTL)}
	h.mu.Unlock()
	h.openSession(w, r, id)
}

// session is the request's session, nil when it has none.
func (h *Handler) session(r *http.Request) *session {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.sessions[c.Value]
	if !ok {
		return nil
	}
	if h.now().After(s.expires) {
		delete(h.sessions, c.Value)
		return nil
	}
	return s
}

type sessionHandler func(w http.ResponseWriter, r *http.Request, s *session)

// authed serves only requests with a session; others get a page saying
// how to open one.
func (h *Handler) authed(next sessionHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := h.session(r)
		if s == nil && h.token != nil {
			h.loginForm(w, r, http.StatusUnauthorized, "Sign in")
			return
		}
		if s == nil {
			h.render(w, r, http.StatusUnauthorized, "login", nil, page{Title: "Not signed in", NoSession: true})
			return
		}
		next(w, r, s)
	}
}

// csrf lets a POST through only with the session's CSRF token in its form
// (and, when the browser says where it comes from, from this origin):
// anything else gets 403 and changes nothing.
func (h *Handler) csrf(next sessionHandler) sessionHandler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		got := r.PostFormValue("csrf")
		bad := subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
			bad = true
		}
		if bad {
			h.render(w, r, http.StatusForbidden, "error", s, page{Title: "Forbidden",
				Message: "This request did not carry this page's security token (CSRF), so nothing was changed. Reload the page and try again."})
			return
		}
		next(w, r, s)
	}
}
