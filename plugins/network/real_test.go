package network

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/chaosctl/chaosctl/plugins"
)

func procTarget(ns testNS) plugins.Target {
	return plugins.Target{Kind: "process", ID: strconv.Itoa(ns.pid)}
}

// inject runs the engine's order: Prepare, Inject with the prepared data.
func inject(t *testing.T, f *Fault, action string, ns testNS, params plugins.Params) []byte {
	t.Helper()
	ctx := context.Background()
	req := plugins.InjectRequest{Action: action, Params: params, Target: procTarget(ns)}
	prep, err := f.Prepare(ctx, req)
	require.NoError(t, err)
	req.Prepared = prep
	rd, err := f.Inject(ctx, req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = New().Revert(context.Background(), action, rd) })
	return rd
}

func status(t *testing.T, action string, rd []byte) plugins.Status {
	t.Helper()
	// A fresh Fault: Status reads the kernel, not memory.
	st, err := New().Status(context.Background(), action, rd)
	require.NoError(t, err)
	return st
}

func TestKernelProbe(t *testing.T) {
	needRoot(t)
	k := probeKernel()
	t.Logf("nftables: %v; numgen: %v; tbf: %v; netem: %v", k.Nftables, k.Numgen, k.Tbf, k.Netem)
	require.NoError(t, k.Nftables)
	require.NoError(t, k.Numgen)
	require.NoError(t, k.Tbf)
	if k.Netem != nil {
		assert.ErrorIs(t, k.Netem, ErrNoNetem)
		assert.Contains(t, k.Netem.Error(), "sch_netem")
	}
}

// TestLossInNetns: 30% of 2000 datagrams into a are dropped, within 5
// points; Status counts them; revert lets everything through again.
func TestLossInNetns(t *testing.T) {
	a, b := pair(t)
	rx := udpListen(t, a, 9999)
	require.Equal(t, 2000, udpDelivered(t, b, rx, 2000), "a clean link loses nothing")

	rd := inject(t, New(), "loss", a, plugins.Params{"percent": 30.0, "direction": "ingress"})
	st := status(t, "loss", rd)
	require.True(t, st.Active, st.Detail)
	assert.Regexp(t, `^table chaosctl_pid_\d+_[0-9a-f]{8}: drop 30% ingress \(1 rules, 0 packets matched\)$`, st.Detail)

	got := udpDelivered(t, b, rx, 2000)
	lost := 100 * float64(2000-got) / 2000
	assert.InDelta(t, 30, lost, 5, "measured loss %.1f%%", lost)
	st = status(t, "loss", rd)
	assert.Contains(t, st.Detail, strconv.Itoa(2000-got)+" packets matched")

	// Egress from a is untouched by an ingress loss.
	rxb := udpListen(t, b, 9999)
	assert.Equal(t, 500, udpDelivered(t, a, rxb, 500))

	require.NoError(t, New().Revert(context.Background(), "loss", rd))
	st = status(t, "loss", rd)
	assert.False(t, st.Active)
	assert.Contains(t, st.Detail, "no table chaosctl_pid_")
	assert.Equal(t, 2000, udpDelivered(t, b, rx, 2000))
	require.NoError(t, New().Revert(context.Background(), "loss", rd), "a second revert is done")
}

// TestBlockInNetns: a port is cut both ways while another gets through;
// reject answers at once.
func TestBlockInNetns(t *testing.T) {
	a, b := pair(t)
	cut, open := udpListen(t, a, 9999), udpListen(t, a, 9998)
	rd := inject(t, New(), "block", a, plugins.Params{"cidrs": []any{b.ip}, "ports": []any{"9999"}})
	st := status(t, "block", rd)
	require.True(t, st.Active, st.Detail)
	assert.Contains(t, st.Detail, ": drop both to/from "+b.ip+"/32 port 9999 (8 rules")
	assert.Equal(t, 0, udpDelivered(t, b, cut, 200))
	assert.Equal(t, 200, udpDelivered(t, b, open, 200))
	require.NoError(t, New().Revert(context.Background(), "block", rd))
	assert.Equal(t, 200, udpDelivered(t, b, cut, 200))

	// reject: a TCP connect from a to b is refused, not timed out.
	var ln net.Listener
	inNS(t, b.path(), func() (err error) { ln, err = net.Listen("tcp4", b.ip+":7000"); return err })
	defer ln.Close()
	rd = inject(t, New(), "block", a, plugins.Params{"cidrs": []any{b.ip}, "reject": true})
	var err error
	inNS(t, a.path(), func() error {
		var c net.Conn
		if c, err = net.DialTimeout("tcp4", b.ip+":7000", 3*time.Second); err == nil {
			c.Close()
		}
		return nil
	})
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	require.NoError(t, New().Revert(context.Background(), "block", rd))
}

// TestDNSInNetns: port 53 to the resolver is refused; other ports are not.
func TestDNSInNetns(t *testing.T) {
	a, b := pair(t)
	dns, other := udpListen(t, b, 53), udpListen(t, b, 54)
	rd := inject(t, New(), "dns", a, plugins.Params{"resolvers": []any{b.ip}, "refuse": true})
	st := status(t, "dns", rd)
	require.True(t, st.Active, st.Detail)
	assert.Contains(t, st.Detail, ": reject dns (udp/tcp 53) to "+b.ip+" (2 rules")
	assert.Equal(t, 0, udpDelivered(t, a, dns, 50))
	assert.Equal(t, 50, udpDelivered(t, a, other, 50))
	require.NoError(t, New().Revert(context.Background(), "dns", rd))
	assert.Equal(t, 50, udpDelivered(t, a, dns, 50))
}

// TestBandwidthInNetns: a tbf with chaosctl's handle caps a's egress.
func TestBandwidthInNetns(t *testing.T) {
	a, b := pair(t)
	var ln net.Listener
	inNS(t, b.path(), func() (err error) { ln, err = net.Listen("tcp4", b.ip+":7001"); return err })
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); _, _ = c.Write([]byte("k")); c.Close() }()
		}
	}()
	send := func() time.Duration {
		var c net.Conn
		inNS(t, a.path(), func() (err error) { c, err = net.DialTimeout("tcp4", b.ip+":7001", 3*time.Second); return err })
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
		start := time.Now()
		_, err := c.Write(make([]byte, 4<<20))
		require.NoError(t, err)
		require.NoError(t, c.(*net.TCPConn).CloseWrite())
		_, err = c.Read(make([]byte, 1)) // b has read it all
		require.NoError(t, err)
		return time.Since(start)
	}
	rd := inject(t, New(), "bandwidth", a, plugins.Params{"rate": "32mbit", "device": a.dev})
	st := status(t, "bandwidth", rd)
	require.True(t, st.Active, st.Detail)
	assert.Contains(t, st.Detail, "chaosctl's root qdisc on "+a.dev+" of pid "+strconv.Itoa(a.pid)+": tbf c4a6: rate 32000000bit")
	// 4 MiB at 4 MB/s cannot arrive in much less than a second: a lower
	// bound only, which a slow machine cannot break.
	assert.Greater(t, send(), 800*time.Millisecond)
	require.NoError(t, New().Revert(context.Background(), "bandwidth", rd))
	st = status(t, "bandwidth", rd)
	assert.False(t, st.Active)
	assert.Contains(t, st.Detail, "no chaosctl qdisc (c4a6:)")
}

// TestForeignObjectsRefused: a table of our name that we did not make is
// neither replaced nor deleted; nor is someone's root qdisc.
func TestForeignObjectsRefused(t *testing.T) {
	a, _ := pair(t)
	ctx := context.Background()
	f := New()
	req := plugins.InjectRequest{Action: "loss", Params: plugins.Params{"percent": 50.0}, Target: procTarget(a)}
	prep, err := f.Prepare(ctx, req)
	require.NoError(t, err)
	var rd revertData
	require.NoError(t, json.Unmarshal(prep, &rd))

	// Someone else's table, under the very name.
	c, done, err := nsConn(a.path())
	require.NoError(t, err)
	defer done()
	tb := c.AddTable(table(rd.Table))
	ch := c.AddChain(&nftables.Chain{Name: "theirs", Table: tb})
	c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}})
	require.NoError(t, c.Flush())

	req.Prepared = prep
	out, err := f.Inject(ctx, req)
	require.ErrorIs(t, err, ErrForeignTable)
	assert.Nil(t, out)
	require.ErrorIs(t, f.Revert(ctx, "loss", prep), ErrForeignTable)
	st := status(t, "loss", prep)
	assert.False(t, st.Active)
	assert.Contains(t, st.Detail, "without this fault's marker: not ours")
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	require.NoError(t, err)
	found := false
	for _, x := range chains {
		found = found || (x.Table.Name == rd.Table && x.Name == "theirs")
	}
	assert.True(t, found, "their table and chain are still there")

	// Someone else's root qdisc on the device.
	h, hdone, err := nsHandle(a.path())
	require.NoError(t, err)
	defer hdone()
	link, err := h.LinkByName(a.dev)
	require.NoError(t, err)
	theirs := tbfQdisc(link.Attrs().Index, 0x1234<<16, tbfSpec{Rate: 125000, Burst: 16384, Limit: 32768})
	require.NoError(t, h.QdiscAdd(theirs))
	_, err = f.Inject(ctx, plugins.InjectRequest{Action: "bandwidth", Params: plugins.Params{"rate": "1mbit", "device": a.dev}, Target: procTarget(a)})
	require.ErrorIs(t, err, ErrForeignQdisc)
	assert.Contains(t, err.Error(), "has root qdisc tbf 1234:")
	list, err := h.QdiscList(link)
	require.NoError(t, err)
	assert.True(t, hasHandle(list, 0x1234<<16), "their qdisc is still there")
}

func hasHandle(list []netlink.Qdisc, h uint32) bool {
	for _, q := range list {
		if q.Attrs().Handle == h {
			return true
		}
	}
	return false
}

// TestRevertAfterCrash: a fresh process reverts from revert data alone:
// prepared data whose Inject never ran, data of a full Inject, and data
// whose namespace has gone.
func TestRevertAfterCrash(t *testing.T) {
	a, _ := pair(t)
	ctx := context.Background()
	for _, action := range []string{"loss", "bandwidth"} {
		params := plugins.Params{"percent": 10.0}
		if action == "bandwidth" {
			params = plugins.Params{"rate": "1mbit", "device": a.dev}
		}
		prep, err := New().Prepare(ctx, plugins.InjectRequest{Action: action, Params: params, Target: procTarget(a)})
		require.NoError(t, err)
		require.NoError(t, New().Revert(ctx, action, prep), "%s: prepared, never injected", action)
		assert.False(t, status(t, action, prep).Active)

		rd := inject(t, New(), action, a, params)
		require.True(t, status(t, action, rd).Active)
		require.NoError(t, New().Revert(ctx, action, rd), action)
		assert.False(t, status(t, action, rd).Active)
	}
	rd := inject(t, New(), "loss", a, plugins.Params{"percent": 10.0})
	var d revertData
	require.NoError(t, json.Unmarshal(rd, &d))
	d.NetNS++ // as if the namespace had been replaced (the container restarted)
	stale, _ := json.Marshal(d)
	st := status(t, "loss", stale)
	assert.False(t, st.Active)
	assert.Contains(t, st.Detail, "is gone")
	require.NoError(t, New().Revert(ctx, "loss", stale))
	assert.True(t, status(t, "loss", rd).Active, "a stale record reverts nothing in the namespace that replaced it")
	_, err := New().Inject(ctx, plugins.InjectRequest{Action: "loss", Params: plugins.Params{"percent": 10.0}, Target: procTarget(a), Prepared: stale})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "changed since it was selected")
	require.NoError(t, New().Revert(ctx, "loss", rd))
}
