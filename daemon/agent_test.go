package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/daemon/store"
	"github.com/chaosctl/chaosctl/internal/agent"
	"github.com/chaosctl/chaosctl/plugins"
)

// agentConfig is a node agent on loopback TCP with a token, whose
// controllers may use the process plugin.
func agentConfig(t *testing.T) (Config, agent.Options) {
	t.Helper()
	cfg := testConfig(t)
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("s3cret-agent-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.API.Listen = freeAddr(t)
	cfg.API.TokenFile = tok
	cfg.Agent = AgentConfig{Enabled: true, Plugins: []string{"process"}}
	return cfg, agent.Options{TokenFile: tok}
}

// agentRig is a running agent, a process its faults stop, and a
// controller's client.
type agentRig struct {
	v   *victim
	cfg Config
	td  *testDaemon
	c   *agent.Client
}

func startAgent(t *testing.T) agentRig {
	t.Helper()
	v := startVictim(t)
	cfg, o := agentConfig(t)
	td := start(t, cfg)
	return agentRig{v: v, cfg: cfg, td: td, c: agentClient(t, cfg, o)}
}

// pause has the agent pause the victim under lease, and fails the test if
// it cannot.
func (r agentRig) pause(t *testing.T, lease time.Duration) agent.Fault {
	t.Helper()
	f, err := r.c.Inject(context.Background(), pauseRequest(r.v.pid, lease))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func agentClient(t *testing.T, cfg Config, o agent.Options) *agent.Client {
	t.Helper()
	c, err := agent.NewClient("http://"+cfg.API.Listen, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pauseRequest(pid int, lease time.Duration) agent.InjectRequest {
	return agent.InjectRequest{
		ID: agent.NewID(), Plugin: "process", Action: "pause",
		Selector: plugins.Params{"pid": int64(pid)}, Lease: lease, By: "test controller",
	}
}

// TestAgentFaultLifecycle: a controller injects through the agent, renews
// its lease, reverts; the agent answers a second revert as done and an
// unknown id as unknown.
func TestAgentFaultLifecycle(t *testing.T) {
	rig := startAgent(t)
	v, c := rig.v, rig.c
	ctx := context.Background()

	req := pauseRequest(v.pid, 4*time.Second)
	f, err := c.Inject(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if f.State != agent.StateHeld || f.ID != req.ID || f.LeaseUntil == nil || !stopped(t, v.pid) {
		t.Fatalf("after inject: %+v, stopped %v", f, stopped(t, v.pid))
	}
	if _, err := c.Inject(ctx, req); !errors.Is(err, agent.ErrRefused) || !strings.Contains(err.Error(), "id already") {
		t.Fatalf("the same id again: %v, want refused", err)
	}
	// Renewed past the first lease (4 x 1s > 4s): still held.
	for range 5 {
		time.Sleep(time.Second)
		r, err := c.Renew(ctx, f.ID)
		if err != nil || r.State != agent.StateHeld {
			t.Fatalf("renew: %+v %v", r, err)
		}
	}
	if !stopped(t, v.pid) {
		t.Fatal("reverted although its lease was renewed")
	}
	g, err := c.Get(ctx, f.ID)
	if err != nil || g.Status == nil || !g.Status.Active {
		t.Fatalf("get: %+v %v, want the plugin's Status active", g, err)
	}
	if ls, err := c.List(ctx); err != nil || len(ls) != 1 || ls[0].ID != f.ID {
		t.Fatalf("list: %+v %v", ls, err)
	}
	r, err := c.Revert(ctx, f.ID)
	if err != nil || r.State != agent.StateReverted || r.RevertedAt == nil || stopped(t, v.pid) {
		t.Fatalf("revert: %+v %v, stopped %v", r, err, stopped(t, v.pid))
	}
	again, err := c.Revert(ctx, f.ID)
	if err != nil || again.State != agent.StateReverted {
		t.Fatalf("second revert: %+v %v, want reverted and no error", again, err)
	}
	if _, err := c.Revert(ctx, agent.NewID()); !errors.Is(err, agent.ErrUnknownFault) {
		t.Fatalf("unknown id: %v, want ErrUnknownFault", err)
	}
}

// TestAgentLeaseRunsOut: a controller that stops renewing (it died) has
// its fault reverted by the agent on its own, soon after the lease.
func TestAgentLeaseRunsOut(t *testing.T) {
	rig := startAgent(t)
	v, c := rig.v, rig.c
	ctx := context.Background()
	f := rig.pause(t, agent.MinLease)
	injected := time.Now()
	waitFor(t, "the agent to revert when the lease ran out", 10*time.Second, func() bool { return !stopped(t, v.pid) })
	if d := time.Since(injected); d < agent.MinLease-100*time.Millisecond {
		t.Fatalf("reverted after %v, before its lease of %v", d, agent.MinLease)
	}
	waitFor(t, "the ledger to say reverted", 5*time.Second, func() bool {
		g, err := c.Get(ctx, f.ID)
		return err == nil && g.State == agent.StateReverted
	})
	g, _ := c.Get(ctx, f.ID)
	if !strings.Contains(strings.Join(g.Notes, ";"), "did not renew the lease") {
		t.Fatalf("notes %q do not say why", g.Notes)
	}
	if r, err := c.Renew(ctx, f.ID); err != nil || r.State != agent.StateReverted {
		t.Fatalf("renew after the lease ran out: %+v %v, want the state reverted", r, err)
	}
}

// TestAgentRefusals: what the agent refuses is refused with the field,
// and injects nothing.
func TestAgentRefusals(t *testing.T) {
	rig := startAgent(t)
	v, c := rig.v, rig.c
	ctx := context.Background()
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	gone := exited.Process.Pid
	for _, tc := range []struct {
		name string
		edit func(*agent.InjectRequest)
		want string
	}{
		{"lease too short", func(r *agent.InjectRequest) { r.Lease = time.Second }, "lease"},
		{"bad id", func(r *agent.InjectRequest) { r.ID = "x" }, "id"},
		{"plugin not allowed", func(r *agent.InjectRequest) { r.Plugin = "disk" }, "not a plugin this agent runs"},
		{"unknown action", func(r *agent.InjectRequest) { r.Action = "freeze" }, "no action"},
		{"no such process", func(r *agent.InjectRequest) { r.Selector = plugins.Params{"pid": int64(gone)} }, "matched no targets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := pauseRequest(v.pid, 5*time.Second)
			tc.edit(&req)
			_, err := c.Inject(ctx, req)
			if !errors.Is(err, agent.ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want refused naming %q", err, tc.want)
			}
			if stopped(t, v.pid) {
				t.Fatal("refused, yet the process is stopped")
			}
		})
	}
	bad, err := agent.NewClient("http://"+rig.cfg.API.Listen, agent.Options{TokenFile: writeTemp(t, "wrong")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Inject(ctx, pauseRequest(v.pid, 5*time.Second)); err == nil || stopped(t, v.pid) {
		t.Fatalf("a wrong token: %v, stopped %v", err, stopped(t, v.pid))
	}
}

// TestAgentRestartReverts: an agent that dies holding a fault reverts it
// when it starts again, and its controller's revert then finds it done.
func TestAgentRestartReverts(t *testing.T) {
	rig := startAgent(t)
	v, td, c := rig.v, rig.td, rig.c
	ctx := context.Background()
	f := rig.pause(t, time.Minute)
	// A crash, not a shutdown (which reverts): the ledger as it was, the
	// agent's memory gone.
	e, err := td.d.agent.entry(f.ID)
	if err != nil || e.State != store.StateInjected {
		t.Fatalf("ledger entry %+v %v, want injected", e, err)
	}
	td.d.agent.mu.Lock()
	for _, h := range td.d.agent.held {
		h.timer.Stop()
	}
	td.d.agent.held = map[string]*heldFault{}
	td.d.agent.mu.Unlock()
	if err := td.d.store.Ledger().Injected(ctx, agentRun(f.ID), e.Fault); err != nil {
		t.Fatal(err)
	}
	td.stop(t)
	if !stopped(t, v.pid) {
		t.Fatal("setup: the crash reverted the fault")
	}

	start(t, rig.cfg)
	if stopped(t, v.pid) {
		t.Fatal("the restarted agent did not revert the fault its predecessor held")
	}
	if _, err := c.Revert(ctx, f.ID); err != nil && !errors.Is(err, agent.ErrUnknownFault) {
		t.Fatalf("the controller's revert after the agent's restart: %v", err)
	}
	// No run journal is made up for it.
	if h, err := td.c.History(ctx, 0, ""); err != nil || len(h) != 0 {
		t.Fatalf("history %+v %v, want none: an agent fault is no run", h, err)
	}
}

// TestAgentRetryLoopLeavesHeldFaults: the daemon's retry of faults left
// pending never reverts one the agent holds under a live lease.
func TestAgentRetryLoopLeavesHeldFaults(t *testing.T) {
	rig := startAgent(t)
	v, td, c := rig.v, rig.td, rig.c
	ctx := context.Background()
	f := rig.pause(t, time.Minute)
	td.d.retryFailed(ctx)
	if g, err := c.Get(ctx, f.ID); err != nil || g.State != agent.StateHeld || !stopped(t, v.pid) {
		t.Fatalf("after a retry pass: %+v %v, stopped %v; want still held", g, err, stopped(t, v.pid))
	}
}

// TestAgentTCPServesTheAgentOnly: a node agent's token, which its
// controllers hold, opens neither runs nor uploaded scenarios; and a
// selector names one container or process, never the node.
func TestAgentTCPServesTheAgentOnly(t *testing.T) {
	cfg, o := agentConfig(t)
	start(t, cfg)
	tok, _ := os.ReadFile(o.TokenFile)
	for _, p := range []string{"/v1/runs", "/v1/scenarios", "/v1/faults"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+cfg.API.Listen+p, nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s with the agent's token: %d, want 403", p, resp.StatusCode)
		}
	}
	c := agentClient(t, cfg, o)
	for _, sel := range []plugins.Params{{}, {"pid": int64(1), "name": "x"}, {"labels": map[string]any{"app": "x"}}, {"host": true}} {
		req := pauseRequest(1, time.Minute)
		req.Selector = sel
		if _, err := c.Inject(context.Background(), req); !errors.Is(err, agent.ErrRefused) || !strings.Contains(err.Error(), "selector") {
			t.Errorf("selector %v: %v, want refused naming the selector", sel, err)
		}
	}
}

// TestAgentShutdownAndHaltRevert: nothing held outlives the agent, and a
// halt reverts what it holds.
func TestAgentShutdownAndHaltRevert(t *testing.T) {
	rig := startAgent(t)
	v, td, c := rig.v, rig.td, rig.c
	ctx := context.Background()
	if _, err := c.Inject(ctx, pauseRequest(v.pid, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := td.c.Halt(ctx); err != nil {
		t.Fatal(err)
	}
	if stopped(t, v.pid) {
		t.Fatal("halt left the agent's fault in place")
	}
	if _, err := c.Inject(ctx, pauseRequest(v.pid, time.Minute)); !errors.Is(err, agent.ErrRefused) {
		t.Fatalf("inject while halted: %v, want refused", err)
	}
	if err := td.c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Inject(ctx, pauseRequest(v.pid, time.Minute)); err != nil {
		t.Fatal(err)
	}
	td.stop(t)
	if stopped(t, v.pid) {
		t.Fatal("the agent's shutdown left its fault in place")
	}
}

func writeTemp(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAgentOverTLS: one certificate serves every agent, checked under the
// name chaosctl-agent whatever address the agent answers at; a controller
// that trusts another CA sends nothing.
func TestAgentOverTLS(t *testing.T) {
	v := startVictim(t)
	cfg, o := agentConfig(t)
	dir := t.TempDir()
	cfg.API.TLSCert, cfg.API.TLSKey = agentCert(t, dir, agent.DefaultServerName)
	start(t, cfg)
	ctx := context.Background()
	o.CAFile = cfg.API.TLSCert
	c, err := agent.NewClient(cfg.API.Listen, o) // https by default
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Inject(ctx, pauseRequest(v.pid, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Revert(ctx, f.ID); err != nil || stopped(t, v.pid) {
		t.Fatalf("revert over TLS: %v", err)
	}
	other, _ := agentCert(t, t.TempDir(), agent.DefaultServerName)
	o.CAFile = other
	c2, err := agent.NewClient(cfg.API.Listen, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Inject(ctx, pauseRequest(v.pid, time.Minute)); !errors.Is(err, agent.ErrUnreachable) || stopped(t, v.pid) {
		t.Fatalf("a controller trusting another CA: %v, stopped %v", err, stopped(t, v.pid))
	}
}

// agentCert writes a self-signed certificate for DNS name and its key.
func agentCert(t *testing.T, dir, name string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	cert, key = filepath.Join(dir, "agent.crt"), filepath.Join(dir, "agent.key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}
