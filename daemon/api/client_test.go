package api

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestClientRefusesTokenInClear: a bearer token goes over https, or over
// plain http to this machine only.
func TestClientRefusesTokenInClear(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr, token string
		err         string // "" accepted
	}{
		{"127.0.0.1:7433", tok, ""},
		{"http://localhost:7433", tok, ""},
		{"http://[::1]:7433", tok, ""},
		{"https://chaos.example.com:7433", tok, ""},
		{"https://10.0.0.5:7433", tok, ""},
		{"http://10.0.0.5:7433", "", ""}, // no token, nothing to leak
		{"10.0.0.5:7433", tok, "refusing to send the API token in clear text: --addr 10.0.0.5:7433 is plain http to 10.0.0.5, which is not a loopback address: use https://10.0.0.5:7433 (and --ca-file for a self-signed certificate)"},
		{"http://chaos.example.com:7433", tok, "refusing to send the API token in clear text: --addr http://chaos.example.com:7433 is plain http to chaos.example.com, which is not a loopback address: use https://chaos.example.com:7433 (and --ca-file for a self-signed certificate)"},
		{"http://localhost.example.com", tok, "refusing to send the API token in clear text: --addr http://localhost.example.com is plain http to localhost.example.com, which is not a loopback address: use https://localhost.example.com (and --ca-file for a self-signed certificate)"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			c, err := NewClient(ClientOptions{Addr: tc.addr, TokenFile: tc.token})
			if tc.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.token != "" && c.token != "s3cret" {
					t.Errorf("token %q not read", c.token)
				}
				return
			}
			if !errors.Is(err, ErrTokenInClear) || err.Error() != tc.err {
				t.Fatalf("got %v\nwant %s", err, tc.err)
			}
		})
	}
}
