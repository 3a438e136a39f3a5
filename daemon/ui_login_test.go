package daemon_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/daemon"
	"github.com/chaosctl/chaosctl/internal/ui"
)

func dashboard(m daemon.UIMount) (http.Handler, error) {
	return ui.New(ui.Options{API: m.API, Log: zerolog.Nop(), Prefix: m.Prefix, Token: m.Token, Secure: m.Secure})
}

// loginPage opens the sign-in form and returns its CSRF token.
func loginPage(t *testing.T, c *http.Client, addr string) string {
	t.Helper()
	resp, err := c.Get(addr + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), `type="password" name="token"`) {
		t.Fatalf("GET /ui/ without a session: %d\n%s", resp.StatusCode, b)
	}
	_, rest, _ := strings.Cut(string(b), `name="csrf" value="`)
	tok, _, _ := strings.Cut(rest, `"`)
	if tok == "" {
		t.Fatal("login form without a CSRF token")
	}
	return tok
}

func TestUILoginForm(t *testing.T) {
	ud := daemon.StartUIDaemon(t, true, dashboard)
	newClient := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	post := func(c *http.Client, form url.Values) (*http.Response, string) {
		resp, err := c.PostForm(ud.Addr+"/ui/login", form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	t.Run("right token", func(t *testing.T) {
		c := newClient()
		csrf := loginPage(t, c, ud.Addr)
		resp, _ := post(c, url.Values{"csrf": {csrf}, "token": {ud.Token}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
			t.Fatalf("login: %d to %q, want 303 to /ui/", resp.StatusCode, resp.Header.Get("Location"))
		}
		var sess *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == ui.SessionCookie {
				sess = ck
			}
		}
		if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/ui/" || sess.Secure {
			t.Fatalf("session cookie %+v", sess)
		}
		resp, err := c.Get(ud.Addr + "/ui/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `href="/ui/scenarios/freeze"`) ||
			!strings.Contains(string(b), `href="/ui/assets/app.css"`) {
			t.Errorf("scenarios page: %d\n%s", resp.StatusCode, b)
		}
		// The scenario page shows the TOML, from GET /v1/scenarios/{name}.
		resp, err = c.Get(ud.Addr + "/ui/scenarios/freeze")
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `id="toml"`) || !strings.Contains(string(b), "recover_within") {
			t.Errorf("scenario page: %d\n%s", resp.StatusCode, b)
		}
		// The session is not a way into the JSON API.
		resp, err = c.Get(ud.Addr + "/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("API with a UI session only: %d, want 401", resp.StatusCode)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		c := newClient()
		csrf := loginPage(t, c, ud.Addr)
		resp, body := post(c, url.Values{"csrf": {csrf}, "token": {"guess"}})
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 || !strings.Contains(body, "Wrong token") {
			t.Errorf("wrong token: %d, cookies %v\n%s", resp.StatusCode, resp.Cookies(), body)
		}
	})
	t.Run("csrf missing", func(t *testing.T) {
		c := newClient()
		loginPage(t, c, ud.Addr)
		resp, _ := post(c, url.Values{"token": {ud.Token}})
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("no CSRF: %d, cookies %v", resp.StatusCode, resp.Cookies())
		}
		// A token from the form but no cookie (another browser's form).
		csrf := loginPage(t, newClient(), ud.Addr)
		resp, _ = post(newClient(), url.Values{"csrf": {csrf}, "token": {ud.Token}})
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("CSRF without its cookie: %d, cookies %v", resp.StatusCode, resp.Cookies())
		}
	})
}
