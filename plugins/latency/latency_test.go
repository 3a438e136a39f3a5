package latency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/plugins/latency/tcpproxy"
)

func TestNetemArgs(t *testing.T) {
	s := NetemSpec{Delay: 300 * time.Millisecond, Jitter: 30 * time.Millisecond, Loss: 1.5, Corrupt: 0.1, Rate: "1mbit"}
	assert.Equal(t, "qdisc add dev eth0 root handle c4a5: netem delay 300000us 30000us loss 1.5% corrupt 0.1% rate 1mbit",
		strings.Join(s.Args("eth0"), " "))
}

func TestNetemSpecCheck(t *testing.T) {
	for _, tc := range []struct {
		s    NetemSpec
		want string
	}{
		{NetemSpec{}, "params.delay: give at least one of delay, loss, corrupt, rate"},
		{NetemSpec{Jitter: time.Millisecond}, "params.jitter: needs a delay"},
		{NetemSpec{Delay: time.Millisecond, Jitter: time.Second}, "params.jitter: 1s is larger than the delay 1ms"},
		{NetemSpec{Loss: 120}, "params.loss: 120 is not a percentage"},
		{NetemSpec{Rate: "fast"}, `params.rate: rate "fast": want a number and a unit`},
	} {
		err := errors.Join(tc.s.Check()...)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
	assert.Empty(t, NetemSpec{Delay: time.Millisecond}.Check())
}

func TestRootQdisc(t *testing.T) {
	for show, want := range map[string]string{
		"qdisc noqueue 0: root refcnt 2 \n":                                           "0:",
		"qdisc netem c4a5: root refcnt 2 limit 1000 delay 300ms\n":                    "c4a5:",
		"qdisc htb 1: root refcnt 2 r2q 10 default 0\nqdisc fq_codel 8001: parent 1:": "1:",
		"": "",
	} {
		_, h := rootQdisc(show)
		assert.Equal(t, want, h, show)
	}
}

// On a kernel without sch_netem (this CI machine) the check must say so and
// point at the proxy mode; on one with it, netem must work in a scratch netns.
func TestNetemSupportIsReportedClearly(t *testing.T) {
	err := NetemSupport()
	if err == nil {
		t.Log("this kernel has netem")
		return
	}
	require.ErrorIs(t, err, ErrNetemUnavailable)
	assert.Contains(t, err.Error(), `mode = "proxy"`)
	t.Log(err)
}

func TestModeSelection(t *testing.T) {
	missing := errors.New("no netem")
	ctr := plugins.Params{"name": "api"}
	both := plugins.Params{"name": "api", "proxy": "127.0.0.1:1"}
	prx := plugins.Params{"proxy": "127.0.0.1:1"}
	for _, tc := range []struct {
		mode     string
		sel      plugins.Params
		netemErr error
		want     string
		err      string
	}{
		{"auto", ctr, nil, ModeNetem, ""},
		{"auto", both, missing, ModeProxy, ""},
		{"auto", prx, nil, ModeProxy, ""},
		{"auto", ctr, missing, "", "no netem"},
		{"netem", both, missing, "", "no netem"},
		{"netem", prx, nil, "", "needs a container selector"},
		{"proxy", ctr, nil, "", "target.proxy"},
	} {
		got, err := mode("delay", plugins.Params{"mode": tc.mode}, tc.sel, tc.netemErr)
		if tc.err != "" {
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
	}
}

func TestValidate(t *testing.T) {
	f := &Fault{}
	ctx := context.Background()
	prx := plugins.Params{"proxy": "127.0.0.1:1"}
	assert.NoError(t, f.Validate(ctx, "delay", plugins.Params{"delay": "300ms", "mode": "proxy"}, prx))
	err := f.Validate(ctx, "delay", plugins.Params{"delay": "300ms", "loss": 5.0, "mode": "proxy"}, prx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `params.loss: loss and corrupt need mode = "netem"`)
	err = f.Validate(ctx, "reset", nil, plugins.Params{"name": "api"})
	assert.Contains(t, err.Error(), "target.proxy: reset needs the control address")
	err = f.Validate(ctx, "delay", plugins.Params{"delay": "1ms"}, nil)
	assert.Contains(t, err.Error(), "target: give proxy")
}

// The proxy path end to end in-process: a real proxy, its control API, and
// a revert from the revert data alone (as a fresh process would).
func TestProxyInjectRevert(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer echo.Close()
	p := tcpproxy.New("127.0.0.1:0", echo.Addr().String())
	require.NoError(t, p.Start(context.Background()))
	defer p.Close()
	srv := httptest.NewServer(tcpproxy.Handler(p))
	defer srv.Close()
	control := strings.TrimPrefix(srv.URL, "http://")

	ctx := context.Background()
	f := &Fault{}
	params := plugins.Params{"mode": "proxy", "delay": "300ms", "jitter": "10ms", "rate": "1mbit", "direction": "downstream"}
	targets, err := f.Targets(ctx, "delay", params, plugins.Params{"proxy": control})
	require.NoError(t, err)
	require.Len(t, targets, 1)
	req := plugins.InjectRequest{Action: "delay", Params: params, Target: targets[0]}
	// Prepared revert data names the toxics before they exist; reverting
	// it first removes nothing, and Inject adds exactly those.
	prepared, err := f.Prepare(ctx, req)
	require.NoError(t, err)
	require.NoError(t, f.Revert(ctx, "delay", prepared))
	req.Prepared = prepared
	_, err = f.Inject(ctx, req)
	require.NoError(t, err)
	require.Len(t, p.Toxics(), 2)
	require.NoError(t, (&Fault{}).Revert(ctx, "delay", prepared))
	require.Empty(t, p.Toxics(), "prepared revert data did not remove the toxics")
	rd, err := f.Inject(ctx, plugins.InjectRequest{Action: "delay", Params: params, Target: targets[0]})
	require.NoError(t, err)
	toxics := p.Toxics()
	require.Len(t, toxics, 2)
	assert.Equal(t, 300*time.Millisecond, toxics[0].Delay)
	assert.Equal(t, int64(125000), toxics[1].Rate)
	st, err := f.Status(ctx, "delay", rd)
	require.NoError(t, err)
	assert.True(t, st.Active)

	require.NoError(t, (&Fault{}).Revert(ctx, "delay", rd))
	assert.Empty(t, p.Toxics())
	require.NoError(t, f.Revert(ctx, "delay", rd), "second revert must be a no-op")

	srv.Close() // the proxy's control is gone: revert is done, Targets is a clear error
	require.NoError(t, f.Revert(ctx, "delay", rd))
	_, err = f.Targets(ctx, "delay", params, plugins.Params{"proxy": control})
	require.ErrorIs(t, err, tcpproxy.ErrProxyGone)
	assert.Contains(t, err.Error(), "chaosctl proxy --listen")
}

// TestProxyStatusFollowsTheProxy: Status lists the toxics the real proxy
// applies; toxics removed, or the proxy gone, behind the plugin's back
// show in it.
func TestProxyStatusFollowsTheProxy(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer echo.Close()
	p := tcpproxy.New("127.0.0.1:0", echo.Addr().String())
	require.NoError(t, p.Start(context.Background()))
	defer p.Close()
	srv := httptest.NewServer(tcpproxy.Handler(p))
	defer srv.Close()
	control := strings.TrimPrefix(srv.URL, "http://")

	ctx := context.Background()
	params := plugins.Params{"mode": "proxy", "delay": "300ms", "jitter": "10ms", "rate": "1mbit", "direction": "downstream"}
	targets, err := (&Fault{}).Targets(ctx, "delay", params, plugins.Params{"proxy": control})
	require.NoError(t, err)
	rd, err := (&Fault{}).Inject(ctx, plugins.InjectRequest{Action: "delay", Params: params, Target: targets[0]})
	require.NoError(t, err)
	toxics := p.Toxics()
	require.Len(t, toxics, 2)
	route := fmt.Sprintf("proxy %s (%s -> %s)", control, p.Listen, p.Upstream)

	cl := tcpproxy.NewClient(control)
	for _, step := range []struct {
		name   string
		do     func() error
		active bool
		detail string
	}{
		{"injected", func() error { return nil }, true,
			"2 of 2 toxics listed by " + route + ": latency 300ms±10ms downstream, bandwidth 125000 B/s downstream"},
		{"one removed by hand", func() error { return cl.Remove(ctx, toxics[0].ID) }, true, "1 of 2 toxics listed by " + route + ": bandwidth 125000 B/s downstream"},
		{"both removed by hand", func() error { return cl.Remove(ctx, toxics[1].ID) }, false, "0 of 2 toxics listed by " + route},
		{"proxy gone", func() error { srv.Close(); return nil }, false, "proxy at " + control + " is gone, and its toxics with it"},
	} {
		require.NoError(t, step.do(), step.name)
		st, err := (&Fault{}).Status(ctx, "delay", rd)
		require.NoError(t, err, step.name)
		assert.Equal(t, plugins.Status{Active: step.active, Detail: step.detail}, st, step.name)
	}
}

// TestNetemStatusReadsTheQdisc runs Status against a real network
// namespace (a process started with unshare -n) whose root qdisc is
// changed by hand. This kernel may lack netem: the qdisc with chaosctl's
// handle is an htb, which Status and revert recognise by its handle alone.
// Root only.
func TestNetemStatusReadsTheQdisc(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a network namespace of its own needs root")
	}
	cmd := exec.Command("unshare", "-n", "sleep", "30.2"+strconv.Itoa(os.Getpid()))
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	self, err := netnsInode(os.Getpid())
	require.NoError(t, err)
	var ino uint64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if ino, err = netnsInode(pid); err == nil && ino != self {
			break // unshare is done: pid is sleep, in its own namespace
		}
		require.True(t, time.Now().Before(deadline), "process %d never got a network namespace of its own", pid)
	}
	d := netemData{ContainerID: "scratch", Name: "scratch", Pid: pid, NetNS: ino, Device: "lo", Handle: Handle}
	rd, err := json.Marshal(revertData{Mode: ModeNetem, Netem: &d})
	require.NoError(t, err)
	ctx := context.Background()
	add := func() error {
		_, err := tcIn(ctx, pid, "qdisc", "add", "dev", "lo", "root", "handle", Handle, "htb")
		return err
	}
	for _, step := range []struct {
		name   string
		do     func() error
		active bool
		detail string
	}{
		{"no qdisc yet", func() error { return nil }, false, "no chaosctl qdisc (c4a5:) on lo of scratch; root qdisc: none"},
		{"added", add, true, "chaosctl's root qdisc on lo of scratch: htb c4a5: root"},
		{"deleted by hand", func() error { _, err := tcIn(ctx, pid, "qdisc", "del", "dev", "lo", "root"); return err }, false, "no chaosctl qdisc (c4a5:)"},
		{"added again", add, true, "htb c4a5: root"},
		{"reverted", func() error { return (&Fault{}).Revert(ctx, "delay", rd) }, false, "no chaosctl qdisc (c4a5:)"},
		{"namespace gone", func() error { _ = cmd.Process.Kill(); return cmd.Wait() }, false,
			fmt.Sprintf("network namespace of scratch is gone (pid %d exited", pid)},
	} {
		err := step.do()
		if step.name != "namespace gone" {
			require.NoError(t, err, step.name)
		}
		st, err := (&Fault{}).Status(ctx, "delay", rd)
		require.NoError(t, err, step.name)
		assert.Equal(t, step.active, st.Active, "%s: %s", step.name, st.Detail)
		assert.Contains(t, st.Detail, step.detail, step.name)
	}
}
