package test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/chaosctl/chaosctl/journal"
)

// End-to-end tests of the network plugin against real containers. What
// is in effect is read from the kernel, in the container's network
// namespace: the chaosctl_* nft tables and the qdisc with handle c4a6:.

const tbfHandle = 0xc4a6 << 16

func ctrPid(t *testing.T, cli *client.Client, id string) int {
	t.Helper()
	c := inspect(t, cli, id)
	if c.State == nil || c.State.Pid <= 0 {
		t.Fatalf("container %s is not running", id)
	}
	return c.State.Pid
}

// nsTables lists the chaosctl_* nft tables in the namespace of pid.
func nsTables(t testing.TB, pid int) []string {
	t.Helper()
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.ListTables()
	if err != nil {
		t.Fatalf("nft tables of pid %d: %v", pid, err)
	}
	var out []string
	for _, tb := range list {
		if strings.HasPrefix(tb.Name, "chaosctl_") {
			out = append(out, tb.Name)
		}
	}
	return out
}

// nsHasTbf says whether eth0 in the namespace of pid has chaosctl's qdisc.
func nsHasTbf(t testing.TB, pid int) bool {
	t.Helper()
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	link, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	list, err := h.QdiscList(link)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range list {
		if q.Attrs().Handle == tbfHandle {
			return true
		}
	}
	return false
}

// heldRun is `chaosctl run --local` holding one fault for 10 minutes.
type heldRun struct {
	cmd  *exec.Cmd
	dir  string
	done chan struct{} // closed when chaosctl has exited
}

func holdFault(t *testing.T, f fault, active func() bool) *heldRun {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "held.toml")
	if err := os.WriteFile(path, []byte(aliveScenario("network-held", f).toml()), 0o644); err != nil {
		t.Fatal(err)
	}
	h := &heldRun{dir: dir, cmd: exec.Command(bins.chaosctl, "run", "--local", path, "--journal-dir", dir)}
	var out strings.Builder
	h.cmd.Stdout, h.cmd.Stderr = &out, &out
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	h.done = done
	go func() { _ = h.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = h.cmd.Process.Kill()
		<-done
		_ = exec.Command(bins.chaosctl, "recover", "--journal-dir", dir).Run()
	})
	deadline := time.Now().Add(20 * time.Second)
	for !active() {
		select {
		case <-done:
			t.Fatalf("chaosctl run exited before the fault was active:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fault never became active:\n%s", out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	return h
}

// crashAndRecover kills chaosctl with -9 mid-fault, checks the fault
// outlived it, runs `chaosctl recover`, and checks nothing is left.
func (h *heldRun) crashAndRecover(t *testing.T, active, nothingLeft func() bool) {
	t.Helper()
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-h.done
	if !active() {
		t.Fatal("the fault ended with chaosctl: the crash test proves nothing")
	}
	r := chaosctlIn(t, "recover", "--journal-dir", h.dir)
	if r.code != 0 || !strings.Contains(r.stdout, "1 reverted") {
		t.Fatalf("recover: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !nothingLeft() {
		t.Fatal("after recover the fault is still in the kernel")
	}
}

// netFault is a network fault on the container name, for 10 minutes.
func netFault(faultName, action, name string, params keys) fault {
	return fault{Name: faultName, Plugin: "network", Action: action, Keys: keys{"duration": "10m"}, Params: params, Target: keys{"name": name}}
}

// networkKind is a crash-matrix row (test/daemon_test.go) for one network
// action on a fresh container.
func networkKind(action string, params keys) faultKind {
	return faultKind{
		name: "network-" + action,
		setup: func(t *testing.T) (fault, func(*testing.T) bool, func(*testing.T) bool) {
			cli, img := needEngine(t)
			tn := makeNetwork(t, cli)
			name := "chaosctl-crash-" + uid()
			pid := ctrPid(t, cli, runContainer(t, cli, img, tn, name, ctrOpts{IP: tn.IP(10)}))
			f := netFault("net", action, name, params)
			in := func(t *testing.T) bool { return len(nsTables(t, pid)) > 0 }
			if action == "bandwidth" {
				in = func(t *testing.T) bool { return nsHasTbf(t, pid) }
			}
			return f, in, func(t *testing.T) bool { return !in(t) && len(nsTables(t, pid)) == 0 && !nsHasTbf(t, pid) }
		},
	}
}

// TestNetworkLossMeasured: 30% ingress loss on a container, measured as
// failed TCP handshakes from the host (a SYN is one ingress packet; its
// first retransmission comes after 1s, past the 400ms timeout): within 5
// points over 2000 probes. Then kill -9 and recover.
func TestNetworkLossMeasured(t *testing.T) {
	cli, img := needEngine(t)
	n := makeNetwork(t, cli)
	name := "chaosctl-test-net-" + uid()
	pid := ctrPid(t, cli, runContainer(t, cli, img, n, name, ctrOpts{IP: n.IP(10)}))
	addr := n.IP(10) + ":8080"
	if f := failedDials(addr, 200); f != 0 {
		t.Fatalf("%d of 200 dials fail before the fault", f)
	}
	active := func() bool { return len(nsTables(t, pid)) > 0 }
	h := holdFault(t, netFault("loss", "loss", name, keys{"percent": 30.0, "direction": "ingress"}), active)
	const probes = 2000
	lost := 100 * float64(failedDials(addr, probes)) / probes
	t.Logf("measured loss %.1f%% over %d handshakes", lost, probes)
	if lost < 25 || lost > 35 {
		t.Errorf("measured loss %.1f%%, want 30 +- 5", lost)
	}
	h.crashAndRecover(t, active, func() bool { return len(nsTables(t, pid)) == 0 })
	if f := failedDials(addr, 200); f != 0 {
		t.Errorf("%d of 200 dials fail after recover", f)
	}
}

// failedDials makes n TCP handshakes with addr, 40 at a time, each with a
// 400ms timeout and no retry, and counts the failures.
func failedDials(addr string, n int) int {
	var failed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 40)
	for range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := net.DialTimeout("tcp4", addr, 400*time.Millisecond)
			if err != nil {
				failed.Add(1)
				return
			}
			c.Close()
		}()
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	return int(failed.Load())
}

// fromInside asks the target container at ip to resolve a name or fetch a
// URL (its /net handler, one try of 2s) and says whether it worked.
func fromInside(t *testing.T, ip, query string) (bool, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + ip + ":8080/net?" + query)
	if err != nil {
		t.Fatalf("the test cannot reach %s: %v", ip, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == 200, strings.TrimSpace(string(b))
}

func mustReach(t *testing.T, url string) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s", url, resp.Status)
	}
}

// TestNetworkBlockPartialPartition: block A from B (a named container):
// A -> B and B -> A fail while A -> C and C -> B work (C is the host, on
// the network's gateway). Then kill -9 and recover: A reaches B again.
func TestNetworkBlockPartialPartition(t *testing.T) {
	cli, img := needEngine(t)
	n := makeNetwork(t, cli)
	a, b := "chaosctl-test-a-"+uid(), "chaosctl-test-b-"+uid()
	pid := ctrPid(t, cli, runContainer(t, cli, img, n, a, ctrOpts{IP: n.IP(10)}))
	runContainer(t, cli, img, n, b, ctrOpts{IP: n.IP(11)})
	ln, err := net.Listen("tcp4", n.Gateway()+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	toB := "fetch=" + url.QueryEscape("http://"+n.IP(11)+":8080/healthz")
	toA := "fetch=" + url.QueryEscape("http://"+n.IP(10)+":8080/healthz")
	toC := "fetch=" + url.QueryEscape("http://"+ln.Addr().String()+"/")
	for _, q := range []struct{ ip, query string }{{n.IP(10), toB}, {n.IP(11), toA}, {n.IP(10), toC}} {
		if ok, out := fromInside(t, q.ip, q.query); !ok {
			t.Fatalf("before the fault %s cannot %s: %s", q.ip, q.query, out)
		}
	}
	active := func() bool { return len(nsTables(t, pid)) > 0 }
	h := holdFault(t, netFault("cut", "block", a, keys{"containers": []string{b}}), active)
	if ok, out := fromInside(t, n.IP(10), toB); ok {
		t.Errorf("A -> B works during the block: %s", out)
	}
	if ok, out := fromInside(t, n.IP(11), toA); ok {
		t.Errorf("B -> A works during the block: %s", out)
	}
	if ok, out := fromInside(t, n.IP(10), toC); !ok {
		t.Errorf("A -> C fails during the block: %s", out)
	}
	mustReach(t, "http://"+n.IP(11)+":8080/healthz") // C -> B
	mustReach(t, "http://"+n.IP(10)+":8080/healthz") // C -> A
	h.crashAndRecover(t, active, func() bool { return len(nsTables(t, pid)) == 0 })
	if ok, out := fromInside(t, n.IP(10), toB); !ok {
		t.Errorf("A -> B still fails after recover: %s", out)
	}
}

// TestNetworkDNSOutage: names do not resolve inside the container during
// the fault (Docker's embedded DNS at 127.0.0.11, read from the
// container's resolv.conf) and resolve again after kill -9 and recover.
func TestNetworkDNSOutage(t *testing.T) {
	cli, img := needEngine(t)
	n := makeNetwork(t, cli)
	a, b := "chaosctl-test-a-"+uid(), "chaosctl-test-b-"+uid()
	pid := ctrPid(t, cli, runContainer(t, cli, img, n, a, ctrOpts{IP: n.IP(10)}))
	runContainer(t, cli, img, n, b, ctrOpts{IP: n.IP(11)})
	q := "resolve=" + b
	if ok, out := fromInside(t, n.IP(10), q); !ok || !strings.Contains(out, n.IP(11)) {
		t.Fatalf("before the fault %s does not resolve to %s: %s", b, n.IP(11), out)
	}
	active := func() bool { return len(nsTables(t, pid)) > 0 }
	h := holdFault(t, netFault("dns", "dns", a, nil), active)
	if ok, out := fromInside(t, n.IP(10), q); ok {
		t.Errorf("%s resolves during the DNS outage: %s", b, out)
	}
	if ok, out := fromInside(t, n.IP(10), "fetch="+url.QueryEscape("http://"+n.IP(11)+":8080/healthz")); !ok {
		t.Errorf("by address B is still reachable, or the fault is not DNS only: %s", out)
	}
	h.crashAndRecover(t, active, func() bool { return len(nsTables(t, pid)) == 0 })
	if ok, out := fromInside(t, n.IP(10), q); !ok {
		t.Errorf("%s does not resolve after recover: %s", b, out)
	}
}

// TestNetworkDNSNames: with names, only the listed name fails inside the
// container (its queries to Docker's embedded DNS are dropped by the
// match on the DNS question) while another container's name still
// resolves; after kill -9 and recover both resolve.
func TestNetworkDNSNames(t *testing.T) {
	cli, img := needEngine(t)
	n := makeNetwork(t, cli)
	a, b, c := "chaosctl-test-a-"+uid(), "chaosctl-test-b-"+uid(), "chaosctl-test-c-"+uid()
	pid := ctrPid(t, cli, runContainer(t, cli, img, n, a, ctrOpts{IP: n.IP(10)}))
	runContainer(t, cli, img, n, b, ctrOpts{IP: n.IP(11)})
	runContainer(t, cli, img, n, c, ctrOpts{IP: n.IP(12)})
	resolves := func(name, ip string) (bool, string) {
		ok, out := fromInside(t, n.IP(10), "resolve="+name)
		return ok && strings.Contains(out, ip), out
	}
	for name, ip := range map[string]string{b: n.IP(11), c: n.IP(12)} {
		if ok, out := resolves(name, ip); !ok {
			t.Fatalf("before the fault %s does not resolve to %s: %s", name, ip, out)
		}
	}
	active := func() bool { return len(nsTables(t, pid)) > 0 }
	h := holdFault(t, netFault("dns", "dns", a, keys{"names": []string{b}}), active)
	if ok, out := resolves(b, n.IP(11)); ok {
		t.Errorf("%s resolves though names lists it: %s", b, out)
	}
	if ok, out := resolves(c, n.IP(12)); !ok {
		t.Errorf("%s, not in names, does not resolve during the fault: %s", c, out)
	}
	h.crashAndRecover(t, active, func() bool { return len(nsTables(t, pid)) == 0 })
	if ok, out := resolves(b, n.IP(11)); !ok {
		t.Errorf("%s does not resolve after recover: %s", b, out)
	}
}

// TestNetworkBandwidthCrash: the tbf qdisc outlives kill -9 and recover
// removes it.
func TestNetworkBandwidthCrash(t *testing.T) {
	cli, img := needEngine(t)
	n := makeNetwork(t, cli)
	name := "chaosctl-test-net-" + uid()
	pid := ctrPid(t, cli, runContainer(t, cli, img, n, name, ctrOpts{IP: n.IP(10)}))
	active := func() bool { return nsHasTbf(t, pid) }
	h := holdFault(t, netFault("slow", "bandwidth", name, keys{"rate": "1mbit"}), active)
	h.crashAndRecover(t, active, func() bool { return !nsHasTbf(t, pid) })
}

// TestNetworkBadInput: clear errors naming the field, nothing injected.
func TestNetworkBadInput(t *testing.T) {
	cli, img := needEngine(t)
	n := makeNetwork(t, cli)
	name := "chaosctl-test-net-" + uid()
	pid := ctrPid(t, cli, runContainer(t, cli, img, n, name, ctrOpts{IP: n.IP(10)}))
	stopped := "chaosctl-test-stopped-" + uid()
	sid := runContainer(t, cli, img, n, stopped, ctrOpts{IP: n.IP(11)})
	if err := cli.ContainerStop(context.Background(), sid, container.StopOptions{Timeout: new(int)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		action string
		params keys
		want   string
	}{
		{"loss", keys{"percent": 0.0}, "params.percent: 0 is not in (0, 100]"},
		{"loss", keys{"percent": 120.0}, "params.percent"},
		{"loss", keys{"percent": 10.0, "cidrs": []string{"10.0.0.0/40"}}, `params.cidrs: "10.0.0.0/40" is not a CIDR`},
		{"block", keys{"ports": []string{"99999"}}, `params.ports: "99999" is not a port`},
		{"block", keys{"containers": []string{stopped}}, "params.containers: container " + stopped + " is exited, not running"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			f := netFault("bad", tc.action, name, tc.params)
			f.Keys["duration"] = "2s"
			path := scenarioFile(t, aliveScenario("bad", f))
			r := chaosctl(t, context.Background(), "run", path)
			out := r.stdout + r.stderr
			if r.code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want an error with %q:\n%s", r.code, tc.want, out)
			}
			if got := nsTables(t, pid); len(got) != 0 {
				t.Fatalf("tables left: %v", got)
			}
			if r.journal != nil {
				for _, f := range r.journal.Faults {
					if f.InjectedAt != nil {
						t.Fatalf("fault injected: %+v", f)
					}
				}
			}
		})
	}
}

// TestNetworkBlockOneReplicaSLOHolds: the sibling of the partition example,
// with block: replica 1 is cut off from the load balancer (the host) by an
// nft rule in its namespace instead of a disconnect; the SLO holds.
func TestNetworkBlockOneReplicaSLOHolds(t *testing.T) {
	cli, img := needEngine(t)
	n := makeNetwork(t, cli)
	r1, r2 := "chaosctl-test-api-1-"+uid(), "chaosctl-test-api-2-"+uid()
	pid := ctrPid(t, cli, runContainer(t, cli, img, n, r1, ctrOpts{IP: n.IP(11)}))
	runContainer(t, cli, img, n, r2, ctrOpts{IP: n.IP(12)})
	addr := startLB(t, n.IP(11)+":8080", n.IP(12)+":8080")
	waitHealthy(t, "http://"+addr+"/healthz", 5*time.Second)
	path := example(t, "docker-block-replica.toml", "127.0.0.1:9900", addr, `"shop-api-1"`, `"`+r1+`"`, `"10.0.0.0/24"`, `"`+n.Gateway()+`"`)
	r := chaosctl(t, context.Background(), "run", path)
	mustRun(t, r, 0, journal.Passed)
	if len(r.journal.Faults) != 1 || r.journal.Faults[0].InjectedAt == nil || r.journal.Faults[0].RevertedAt == nil {
		t.Fatalf("faults %+v", r.journal.Faults)
	}
	if got := nsTables(t, pid); len(got) != 0 {
		t.Fatalf("tables left: %v", got)
	}
	waitHealthy(t, "http://"+n.IP(11)+":8080/healthz", 5*time.Second)
}
