package test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/chaosctl/chaosctl/journal"
)

// example renders scenarios/examples/<name> with the test's real names and
// addresses in place of the placeholders written in the file.
func example(t *testing.T, name string, pairs ...string) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "scenarios", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(pairs...).Replace(string(b))
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func waitHealthy(t testing.TB, url string, within time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not healthy within %s", url, within)
}

func mustRun(t *testing.T, r result, code int, verdict journal.Verdict) {
	t.Helper()
	if r.code != code || r.journal == nil || r.journal.Verdict != verdict {
		v := journal.Verdict("none")
		if r.journal != nil {
			v = r.journal.Verdict
		}
		t.Fatalf("exit %d verdict %s, want %d %s\nstdout:\n%s\nstderr:\n%s", r.code, v, code, verdict, r.stdout, r.stderr)
	}
}

func inspect(t *testing.T, cli *client.Client, id string) container.InspectResponse {
	t.Helper()
	in, err := cli.ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// (a) A real crash with restart=always: the Engine restarts the container,
// /healthz is back within 10s, the run passes.
func TestDockerCrashRestartAlwaysRecovers(t *testing.T) {
	cli, img := needEngine(t)
	n := makeNetwork(t, cli)
	name := "chaosctl-test-api-" + uid()
	id := runContainer(t, cli, img, n, name, ctrOpts{IP: n.IP(10), Restart: container.RestartPolicyAlways})
	before := inspect(t, cli, id)

	path := example(t, "docker-crash-restart-always.toml", "10.231.0.10", n.IP(10), `"shop-api"`, `"`+name+`"`)
	r := chaosctl(t, context.Background(), "run", path)
	mustRun(t, r, 0, journal.Passed)
	after := inspect(t, cli, id)
	if after.RestartCount != before.RestartCount+1 || after.State.Pid == before.State.Pid {
		t.Errorf("restart count %d -> %d, pid %d -> %d: the restart policy did not restart it once",
			before.RestartCount, after.RestartCount, before.State.Pid, after.State.Pid)
	}
	rec := r.journal.Recovery
	if rec == nil || rec.Duration == nil || *rec.Duration > 10*time.Second {
		t.Fatalf("recovery not measured: %+v", rec)
	}
	// Both probes saw the crash (a crash is instantaneous: the outage is
	// in the recovering phase).
	for _, s := range r.journal.SLOs {
		if f := s.Phases["recovering"]; f.Samples == 0 || f.Availability == 100 {
			t.Errorf("SLO %s: recovering phase %+v: the crash was not observed", s.Name, f)
		}
	}
	t.Logf("recovered in %s (restart count %d)", *rec.Duration, after.RestartCount)
}

// (b) The same crash without a restart policy: nothing brings it back.
func TestDockerCrashWithoutRestartPolicyFails(t *testing.T) {
	cli, img := needEngine(t)
	n := makeNetwork(t, cli)
	name := "chaosctl-test-api-" + uid()
	id := runContainer(t, cli, img, n, name, ctrOpts{IP: n.IP(10)})
	path := example(t, "docker-crash-no-restart.toml", "10.231.0.10", n.IP(10), `"shop-api"`, `"`+name+`"`)
	r := chaosctl(t, context.Background(), "run", path)
	mustRun(t, r, 1, journal.Failed)
	if !strings.Contains(strings.Join(r.journal.Reasons, "\n"), "not recovered") {
		t.Errorf("reasons %q do not say not recovered", r.journal.Reasons)
	}
	if in := inspect(t, cli, id); in.State.Running || in.State.ExitCode != 137 {
		t.Errorf("container state %s exit %d, want exited 137 (SIGKILL)", in.State.Status, in.State.ExitCode)
	}
}

// startProxy runs `chaosctl proxy` until the test ends.
func startChaosProxy(t *testing.T, listen, upstream string) string {
	t.Helper()
	control := freeAddr(t)
	cmd := exec.Command(bins.chaosctl, "proxy", "--listen", listen, "--upstream", upstream, "--control", control)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", control); err == nil {
			c.Close()
			return control
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("chaosctl proxy did not start: %s", out)
	return ""
}

// (c) 300ms on the dependency, through a chaosctl proxy: p99 breaches
// during the fault and recovers after the revert.
func TestDockerDependencyLatencyThroughProxy(t *testing.T) {
	cli, img := needEngine(t)
	n := makeNetwork(t, cli)
	dep := "chaosctl-test-dep-" + uid()
	runContainer(t, cli, img, n, dep, ctrOpts{IP: n.IP(20)})
	// The proxy listens on the network's gateway (the host side of the
	// bridge), so the API container reaches its dependency through it.
	l, err := net.Listen("tcp", n.Gateway()+":0")
	if err != nil {
		t.Fatal(err)
	}
	listen := l.Addr().String()
	l.Close()
	control := startChaosProxy(t, listen, n.IP(20)+":8080")
	api := "chaosctl-test-api-" + uid()
	runContainer(t, cli, img, n, api, ctrOpts{IP: n.IP(10), Args: []string{"-dependency", "http://" + listen + "/healthz"}})
	waitHealthy(t, "http://"+n.IP(10)+":8080/api", 5*time.Second)

	path := example(t, "docker-dependency-latency.toml", "10.231.0.10", n.IP(10), "127.0.0.1:9901", control)
	r := chaosctl(t, context.Background(), "run", path)
	mustRun(t, r, 0, journal.Passed)
	s := r.journal.SLOs[0]
	f, rec := s.Phases["fault"], s.Phases["recovered"]
	if f.P99 < 300*time.Millisecond || f.Held {
		t.Errorf("fault phase p99 %s held=%v: want a breach of at least the 300ms delay", f.P99, f.Held)
	}
	if s.BreachedAt == nil {
		t.Errorf("no breach recorded")
	}
	t.Logf("p99 steady %s, fault %s, recovery %s", s.Phases["steady"].P99, f.P99, rec.P99)
}

// (d) Fill the container's tmpfs volume: /healthz (which writes) fails,
// and recovers once the fill file is removed.
func TestDockerVolumeFullDegradesAndRecovers(t *testing.T) {
	cli, img := needEngine(t)
	n := makeNetwork(t, cli)
	vol := tmpfsVolume(t, cli, "16m")
	name := "chaosctl-test-api-" + uid()
	id := runContainer(t, cli, img, n, name, ctrOpts{IP: n.IP(10), Volume: vol,
		Args: []string{"-data", "/data/data.txt", "-create-data", "-health-write"}})
	path := example(t, "docker-volume-full.toml", "10.231.0.10", n.IP(10), `"shop-api"`, `"`+name+`"`)
	r := chaosctl(t, context.Background(), "run", path)
	mustRun(t, r, 0, journal.Passed)
	if f := r.journal.SLOs[0].Phases["fault"]; f.Availability > 50 {
		t.Errorf("fault-phase availability %.0f%%: a full volume should fail /healthz", f.Availability)
	}
	// Nothing left behind in the volume.
	src := ""
	for _, m := range inspect(t, cli, id).Mounts {
		if m.Destination == "/data" {
			src = m.Source
		}
	}
	left, _ := filepath.Glob(filepath.Join(src, ".chaosctl-fill-*"))
	if src == "" || len(left) > 0 {
		t.Errorf("fill files left in %q: %v", src, left)
	}
}

// lb is a tiny HTTP load balancer: round robin, a 150ms connect timeout,
// the next backend on error, a failed backend skipped for a second.
type lb struct {
	backends []string
	next     atomic.Uint64
	mu       sync.Mutex
	down     map[string]time.Time
	client   *http.Client
}

func startLB(t *testing.T, backends ...string) string {
	t.Helper()
	b := &lb{backends: backends, down: map[string]time.Time{}, client: &http.Client{
		Timeout: 500 * time.Millisecond,
		Transport: &http.Transport{DisableKeepAlives: true,
			DialContext: (&net.Dialer{Timeout: 150 * time.Millisecond}).DialContext},
	}}
	srv := &http.Server{Handler: b}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func (b *lb) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := int(b.next.Add(1))
	var lastErr error
	for i := range b.backends {
		be := b.backends[(start+i)%len(b.backends)]
		b.mu.Lock()
		skip := time.Now().Before(b.down[be])
		b.mu.Unlock()
		if skip && i < len(b.backends)-1 {
			continue
		}
		resp, err := b.client.Get("http://" + be + r.URL.Path)
		if err != nil {
			lastErr = err
			b.mu.Lock()
			b.down[be] = time.Now().Add(time.Second)
			b.mu.Unlock()
			continue
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, fmt.Sprint("no backend: ", lastErr), http.StatusBadGateway)
}

// (e) Partition one of two replicas behind the load balancer: the SLO
// holds throughout; the replica comes back with the same address.
func TestDockerPartitionOneReplicaSLOHolds(t *testing.T) {
	cli, img := needEngine(t)
	n := makeNetwork(t, cli)
	r1, r2 := "chaosctl-test-api-1-"+uid(), "chaosctl-test-api-2-"+uid()
	id1 := runContainer(t, cli, img, n, r1, ctrOpts{IP: n.IP(11)})
	runContainer(t, cli, img, n, r2, ctrOpts{IP: n.IP(12)})
	addr := startLB(t, n.IP(11)+":8080", n.IP(12)+":8080")
	waitHealthy(t, "http://"+addr+"/healthz", 5*time.Second)

	path := example(t, "docker-partition-replica.toml", "127.0.0.1:9900", addr, `"shop-api-1"`, `"`+r1+`"`, `"shop-backend"`, `"`+n.Name+`"`)
	r := chaosctl(t, context.Background(), "run", path)
	mustRun(t, r, 0, journal.Passed)
	ep := inspect(t, cli, id1).NetworkSettings.Networks[n.Name]
	if ep == nil || ep.IPAddress != n.IP(11) {
		t.Fatalf("replica not reconnected with its address: %+v", ep)
	}
	found := false
	for _, a := range ep.Aliases {
		found = found || a == r1
	}
	if !found {
		t.Errorf("alias %s lost on reconnect: %v", r1, ep.Aliases)
	}
	waitHealthy(t, "http://"+n.IP(11)+":8080/healthz", 5*time.Second)
}

// Bad input: clear errors and nothing injected.
func TestDockerBadInput(t *testing.T) {
	cli, img := needEngine(t)
	n := makeNetwork(t, cli)
	name := "chaosctl-test-api-" + uid()
	id := runContainer(t, cli, img, n, name, ctrOpts{IP: n.IP(10)})
	ip := n.IP(10)

	t.Run("selector matches nothing", func(t *testing.T) {
		path := example(t, "docker-crash-no-restart.toml", "10.231.0.10", ip, `"shop-api"`, `"nobody-`+uid()+`"`)
		r := chaosctl(t, context.Background(), "run", path)
		out := r.stdout + r.stderr
		if r.code == 0 || !strings.Contains(out, "fault crash-api: selector matched no targets") {
			t.Fatalf("exit %d, want a clear empty-selection error:\n%s", r.code, out)
		}
		if !inspect(t, cli, id).State.Running {
			t.Fatal("the container was hit")
		}
	})

	t.Run("netem missing", func(t *testing.T) {
		path := example(t, "docker-dependency-latency.toml", "10.231.0.10", ip,
			`proxy = "127.0.0.1:9901"`, `name = "`+name+`"`, `mode = "proxy"`, `mode = "netem"`)
		r := chaosctl(t, context.Background(), "run", path)
		out := r.stdout + r.stderr
		if runtimeHasNetem() {
			t.Skip("this kernel has sch_netem")
		}
		if r.code == 0 || !strings.Contains(out, "sch_netem") || !strings.Contains(out, `mode = "proxy"`) {
			t.Fatalf("exit %d, want an error naming sch_netem and the proxy mode:\n%s", r.code, out)
		}
		if r.journal != nil {
			for _, f := range r.journal.Faults {
				if f.InjectedAt != nil {
					t.Fatalf("fault injected: %+v", f)
				}
			}
		}
	})

	t.Run("docker socket missing", func(t *testing.T) {
		t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
		path := example(t, "docker-crash-no-restart.toml", "10.231.0.10", ip, `"shop-api"`, `"`+name+`"`)
		r := chaosctl(t, context.Background(), "run", path)
		out := r.stdout + r.stderr
		if r.code == 0 || !strings.Contains(out, "DOCKER_HOST=unix:///nonexistent/docker.sock") {
			t.Fatalf("exit %d, want an error naming DOCKER_HOST:\n%s", r.code, out)
		}
	})

	t.Run("container vanishes mid-fault", func(t *testing.T) {
		path := scenarioFile(t, dockerScenario("pause-vanish", ip, 50, "2s", "1s",
			fault{Plugin: "docker", Action: "pause", Keys: keys{"duration": "3s"}, Target: keys{"name": name}}))
		done := make(chan result, 1)
		go func() { done <- chaosctl(t, context.Background(), "run", path) }()
		// Remove the paused container while the fault is active.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if in, err := cli.ContainerInspect(context.Background(), id); err == nil && in.State.Paused {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := cli.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.journal == nil || len(r.journal.Faults) != 1 {
			t.Fatalf("no journal:\n%s\n%s", r.stdout, r.stderr)
		}
		f := r.journal.Faults[0]
		if f.InjectedAt == nil || f.RevertError != "" || f.RevertedAt == nil {
			t.Fatalf("the revert of a vanished container must count as done: %+v\n%s", f, r.stderr)
		}
	})
}

func runtimeHasNetem() bool {
	out, err := exec.Command("unshare", "-n", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms").CombinedOutput()
	return err == nil && !errors.Is(err, exec.ErrNotFound) && len(out) == 0
}

// dockerScenario has faults on a container judged by the health probe
// of its port 8080 every 100ms, at availability pct over its 1s steady
// phase.
func dockerScenario(name, ip string, pct float64, within, hold string, faults ...fault) scenario {
	return scenario{Name: name, Steady: "1s", Probes: []probe{healthProbe(ip+":8080", "100ms", "300ms")}, SLOs: []objective{available(pct, "1s")},
		Faults: faults, Within: within, Hold: hold}
}
