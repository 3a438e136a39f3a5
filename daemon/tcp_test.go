package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/daemon/api"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chaosctl test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestTCPNeedsToken(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := "http"
		if useTLS {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			dir := t.TempDir()
			cfg.API.Listen = freeAddr(t)
			cfg.API.TokenFile = filepath.Join(dir, "token")
			if err := os.WriteFile(cfg.API.TokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			addr := "http://" + cfg.API.Listen
			var ca string
			if useTLS {
				cfg.API.TLSCert, cfg.API.TLSKey = selfSigned(t, dir)
				addr, ca = "https://"+cfg.API.Listen, cfg.API.TLSCert
			}
			v := startVictim(t)
			writeScen(t, cfg, "s.toml", render(t, scen{Name: "s", Duration: "1s", PID: v.pid}))
			td := start(t, cfg)
			ctx := context.Background()

			wrong := filepath.Join(dir, "wrong")
			if err := os.WriteFile(wrong, []byte("s3cret-tokeN"), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, tf := range []string{"", wrong} {
				c, err := api.NewClient(api.ClientOptions{Addr: addr, TokenFile: tf, CAFile: ca})
				if err != nil {
					t.Fatal(err)
				}
				for _, call := range []func() error{
					func() error { _, err := c.Halt(ctx); return err },
					func() error { _, err := c.Start(ctx, api.StartRequest{Scenario: "s"}); return err },
					func() error { _, err := c.Scenarios(ctx); return err },
					func() error { return c.Get(ctx, "/metrics", nil) },
				} {
					if err := call(); apiStatus(err) != http.StatusUnauthorized {
						t.Errorf("token file %q: %v, want 401", tf, err)
					}
				}
			}
			// Nothing changed.
			if st, _ := td.c.Status(ctx); st.Halted || len(st.Active) != 0 {
				t.Fatalf("an unauthenticated request changed state: %+v", st)
			}
			c, err := api.NewClient(api.ClientOptions{Addr: addr, TokenFile: cfg.API.TokenFile, CAFile: ca})
			if err != nil {
				t.Fatal(err)
			}
			if l, err := c.Scenarios(ctx); err != nil || len(l.Scenarios) != 1 {
				t.Fatalf("with the token: %+v %v", l, err)
			}
			if _, err := c.Halt(ctx); err != nil {
				t.Fatal(err)
			}
			if st, _ := td.c.Status(ctx); !st.Halted {
				t.Fatal("halt with the token did not halt")
			}
			if useTLS {
				// Plain HTTP to the TLS port gets nowhere.
				resp, err := http.Get("http://" + cfg.API.Listen + "/v1/status")
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 && strings.Contains(string(b), "halted") {
						t.Fatal("plain HTTP served on the TLS listener")
					}
				}
			}
		})
	}
}

func TestSocketMode(t *testing.T) {
	cfg := testConfig(t)
	start(t, cfg)
	fi, err := os.Stat(cfg.API.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o660 {
		t.Errorf("socket mode %o, want 660", m)
	}
}
