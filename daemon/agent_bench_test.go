package daemon

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/internal/agent"
	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/plugins/builtin"
)

// BenchmarkAgentRoundTrip: what the node agent adds to an in-pod fault,
// over loopback TCP with its token: an inject (ledger intent and
// injection, both fsynced, then the plugin), a lease renewal, and a revert
// (the plugin, its fact check, the ledger). The fault is a real SIGSTOP of
// a sleep process, through the process plugin.
func BenchmarkAgentRoundTrip(b *testing.B) {
	sleep := exec.Command("sleep", "600")
	if err := sleep.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sleep.Process.Kill(); _ = sleep.Wait() }()
	dir := b.TempDir()
	cfg := DefaultConfig()
	cfg.ScenarioDirs = nil
	cfg.Store = filepath.Join(dir, "chaosctl.db")
	cfg.API.Socket = filepath.Join(dir, "chaosctl.sock")
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("bench-token"), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg.API.TokenFile = tok
	cfg.Agent = AgentConfig{Enabled: true, Plugins: []string{"process"}}
	// A free port, taken just before the daemon listens on it.
	addr := func() string {
		l, err := netListen()
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	cfg.API.Listen = addr
	ctx, cancel := context.WithCancel(context.Background())
	d, err := New(ctx, cfg, Options{Log: zerolog.Nop(), Catalog: builtin.InProcess{}})
	if err != nil {
		b.Fatal(err)
	}
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- d.Serve(ctx, func() { close(ready) }) }()
	<-ready
	defer func() { cancel(); <-done }()
	c, err := agent.NewClient("http://"+addr, agent.Options{TokenFile: tok})
	if err != nil {
		b.Fatal(err)
	}
	const n = 50
	var inj, ren, rev []time.Duration
	for b.Loop() {
		inj, ren, rev = nil, nil, nil
		for range n {
			req := agent.InjectRequest{ID: agent.NewID(), Plugin: "process", Action: "pause", Lease: time.Minute, By: "bench",
				Selector: plugins.Params{"pid": int64(sleep.Process.Pid)}}
			t := time.Now()
			if _, err := c.Inject(ctx, req); err != nil {
				b.Fatal(err)
			}
			inj = append(inj, time.Since(t))
			t = time.Now()
			if _, err := c.Renew(ctx, req.ID); err != nil {
				b.Fatal(err)
			}
			ren = append(ren, time.Since(t))
			t = time.Now()
			if f, err := c.Revert(ctx, req.ID); err != nil || f.State != agent.StateReverted {
				b.Fatalf("revert: %+v %v", f, err)
			}
			rev = append(rev, time.Since(t))
		}
	}
	p50 := func(d []time.Duration) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[len(d)/2].Microseconds()) / 1000
	}
	b.ReportMetric(p50(inj), "inject-p50-ms")
	b.ReportMetric(p50(ren), "renew-p50-ms")
	b.ReportMetric(p50(rev), "revert-p50-ms")
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
