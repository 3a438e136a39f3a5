package network

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// The real tests run in network namespaces of their own: two processes
// started with `unshare -n` (a and b), joined by a veth pair 10.213.N.1 -
// 10.213.N.2. Killing the processes takes the namespaces, the veth and
// every rule and qdisc in them away; nothing on the host is touched.

type testNS struct {
	pid int
	ip  string
	dev string // its end of the veth pair
}

func (n testNS) path() string { return nsPathOf(n.pid) }

var nsSeq atomic.Int32

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CHAOSCTL_E2E") == "1" {
			t.Fatal("CHAOSCTL_E2E=1: the network namespace tests need root")
		}
		t.Skip("network namespaces of our own need root")
	}
}

// startNS starts a sleeping process in a new network namespace and waits
// until it is in it.
func startNS(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("unshare", "-n", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	self, err := netnsInode(nsPathOf(0))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if ino, err := netnsInode(nsPathOf(cmd.Process.Pid)); err == nil && ino != self {
			exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid))
			if strings.HasSuffix(exe, "sleep") {
				return cmd.Process.Pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d never got a network namespace of its own", cmd.Process.Pid)
		}
	}
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// pair makes two namespaces joined by a veth pair, both ends up.
func pair(t *testing.T) (a, b testNS) {
	t.Helper()
	needRoot(t)
	n := nsSeq.Add(1)
	a.pid, b.pid = startNS(t), startNS(t)
	net3 := fmt.Sprintf("10.213.%d", (os.Getpid()%200+int(n))%250)
	a.ip, b.ip = net3+".1", net3+".2"
	va, vb := fmt.Sprintf("ccta%d", b.pid), fmt.Sprintf("cctb%d", b.pid)
	a.dev, b.dev = va, vb
	// Created inside a's namespace, so the host never holds it.
	run(t, "nsenter", "--net="+a.path(), "ip", "link", "add", va, "type", "veth", "peer", "name", vb)
	run(t, "nsenter", "--net="+a.path(), "ip", "link", "set", vb, "netns", strconv.Itoa(b.pid))
	for _, x := range []struct {
		ns  testNS
		dev string
	}{{a, va}, {b, vb}} {
		run(t, "nsenter", "--net="+x.ns.path(), "ip", "addr", "add", x.ns.ip+"/24", "dev", x.dev)
		run(t, "nsenter", "--net="+x.ns.path(), "ip", "link", "set", x.dev, "up")
		run(t, "nsenter", "--net="+x.ns.path(), "ip", "link", "set", "lo", "up")
	}
	return a, b
}

// inNS runs fn on a thread in the namespace at path. Sockets made there
// stay in that namespace after the thread goes back.
func inNS(t *testing.T, path string, fn func() error) {
	t.Helper()
	if err := enterNS(path, fn); err != nil {
		t.Fatal(err)
	}
}

// enterNS is inNS for goroutines that are not the test's (a resolver's
// Dial): it returns the error.
func enterNS(path string, fn func() error) error {
	return func() error {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			return err
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			runtime.UnlockOSThread()
			return err
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			return err
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			return err // the thread stays locked and dies with this goroutine
		}
		runtime.UnlockOSThread()
		return ferr
	}()
}

func udpListen(t *testing.T, ns testNS, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	inNS(t, ns.path(), func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ns.ip), Port: port})
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// udpDelivered sends n datagrams from ns to addr and counts how many
// arrive at rx. Bounded: n sends, then at most a second of reading.
func udpDelivered(t *testing.T, from testNS, rx *net.UDPConn, n int) int {
	t.Helper()
	var tx *net.UDPConn
	inNS(t, from.path(), func() (err error) {
		tx, err = net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
		return err
	})
	defer tx.Close()
	got := make(chan int, 1)
	go func() {
		buf := make([]byte, 64)
		count := 0
		for {
			_ = rx.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := rx.Read(buf); err != nil {
				got <- count
				return
			}
			if count++; count == n {
				got <- count
				return
			}
		}
	}()
	for i := range n {
		_, _ = tx.Write([]byte(strconv.Itoa(i)))
		if i%100 == 99 {
			time.Sleep(time.Millisecond) // do not overrun the receive buffer
		}
	}
	return <-got
}
