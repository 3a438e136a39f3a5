package httpapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Do decodes a 2xx, hands back any other answer whole, and tells a bad
// answer from no answer.
func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte(`{"n": 7}`))
		case "/garbled":
			_, _ = w.Write([]byte(`{"n": `))
		default:
			http.Error(w, `{"error": "no such thing"}`, http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()

	tests := []struct {
		name    string
		url     string
		code    int
		n       int
		body    string
		wantErr error // nil: none; errAny: some transport error
	}{
		{"decoded", srv.URL + "/ok", 200, 7, "", nil},
		{"a 404 is an answer", srv.URL + "/nope", 404, 0, "{\"error\": \"no such thing\"}\n", nil},
		{"a 2xx that is not JSON", srv.URL + "/garbled", 200, 0, "", ErrBadAnswer},
		{"no answer", closed + "/ok", 0, 0, "", errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := NewRequest(context.Background(), http.MethodGet, tt.url, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			var out struct{ N int }
			a, err := Do(context.Background(), http.DefaultClient, req, &out)
			switch {
			case tt.wantErr == nil && err != nil, tt.wantErr == errAny && err == nil:
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if a.Code != tt.code || out.N != tt.n || string(a.Body) != tt.body {
				t.Errorf("answer %d %q, decoded %d; want %d %q, %d", a.Code, a.Body, out.N, tt.code, tt.body, tt.n)
			}
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := NewRequest(ctx, http.MethodGet, srv.URL+"/ok", "", nil)
	if _, err := Do(ctx, http.DefaultClient, req, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("ended context: %v, want its own error", err)
	}
}

var errAny = errors.New("any transport error")
