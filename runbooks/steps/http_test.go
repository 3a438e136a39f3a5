package steps

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHTTPStep(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/reload" && r.Method == "POST" && r.Header.Get("X-Token") == "t":
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/data":
			w.Write([]byte("rows: marker-1\n"))
		case r.URL.Path == "/vhost" && r.Host == "orders.internal":
			w.WriteHeader(http.StatusOK)
		default:
			http.Error(w, "nope", http.StatusForbidden)
		}
	}))
	defer srv.Close()
	step := func(method, path string) Step {
		return Step{Name: "h", Kind: "http", Method: method, URL: srv.URL + path, ExpectStatus: []int{200}, Timeout: dur(time.Second)}
	}
	cases := []struct {
		name    string
		st      Step
		wantErr string
		detail  string
	}{
		{"body regex", func() Step { s := step("GET", "/data"); s.BodyRegex = "marker-1"; return s }(), "", "HTTP 200"},
		{"body regex miss", func() Step { s := step("GET", "/data"); s.BodyRegex = "marker-2"; return s }(), `body does not match "marker-2"`, "HTTP 200"},
		{"method headers status", func() Step {
			s := step("POST", "/reload")
			s.Headers, s.ExpectStatus = map[string]string{"X-Token": "t"}, []int{200, 204}
			return s
		}(), "", "HTTP 204"},
		{"status", step("POST", "/reload"), "status 403, want [200]", "HTTP 403"},
		{"host header", func() Step {
			s := step("GET", "/vhost")
			s.Headers = map[string]string{"Host": "orders.internal"}
			return s
		}(), "", "HTTP 200"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := httpStep{}.Run(context.Background(), c.st, nil)
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.HasSuffix(err.Error(), c.wantErr)) {
				t.Fatalf("err = %v, want ...%q", err, c.wantErr)
			}
			if out.Detail != c.detail {
				t.Errorf("detail %q, want %q", out.Detail, c.detail)
			}
		})
	}
}
