package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/plugins"
)

func TestValidateBadInput(t *testing.T) {
	sel := plugins.Params{"name": "api"}
	for _, tc := range []struct {
		action string
		params plugins.Params
		sel    plugins.Params
		want   string
	}{
		{"loss", plugins.Params{"percent": 0.0}, sel, "params.percent: 0 is not in (0, 100]"},
		{"loss", plugins.Params{"percent": 100.5}, sel, "params.percent: 100.5 is not in (0, 100]"},
		{"loss", plugins.Params{"percent": -3.0}, sel, "params.percent: -3 is not in (0, 100]"},
		{"loss", plugins.Params{}, sel, "params.percent: required"},
		{"loss", plugins.Params{"percent": 10.0, "cidrs": []any{"10.0.0.0/33"}}, sel, `params.cidrs: "10.0.0.0/33" is not a CIDR or an IP address`},
		{"loss", plugins.Params{"percent": 10.0, "ports": []any{"http"}}, sel, `params.ports: "http" is not a port in [1, 65535]`},
		{"loss", plugins.Params{"percent": 10.0, "ports": []any{"70000"}}, sel, `params.ports: "70000" is not a port`},
		{"loss", plugins.Params{"percent": 10.0, "direction": "sideways"}, sel, `params.direction: "sideways": want ingress, egress or both`},
		{"loss", plugins.Params{"percent": 10.0, "mode": "magic"}, sel, `params.mode: "magic": want auto, netem or nftables`},
		{"block", plugins.Params{}, sel, "params.cidrs: give at least one of cidrs, ports, containers"},
		{"block", plugins.Params{"cidrs": []any{"not-an-ip"}}, sel, `params.cidrs: "not-an-ip" is not a CIDR`},
		{"block", plugins.Params{"containers": []any{7}}, sel, "params.containers: element 0: want a string"},
		{"dns", plugins.Params{"resolvers": []any{"dns.example"}}, sel, `params.resolvers: "dns.example" is not an IP address`},
		{"bandwidth", plugins.Params{}, sel, "params.rate: required"},
		{"bandwidth", plugins.Params{"rate": "fast"}, sel, `params.rate: rate "fast": want a number and a unit`},
		{"bandwidth", plugins.Params{"rate": "1mbit", "burst": int64(0)}, sel, "params.burst: want a number of bytes"},
		{"loss", plugins.Params{"percent": 10.0}, plugins.Params{}, "target: give a container selector (name, labels, ...), pid, or host = true"},
		{"loss", plugins.Params{"percent": 10.0}, plugins.Params{"host": true, "name": "api"}, "target: give only one of"},
		{"loss", plugins.Params{"percent": 10.0}, plugins.Params{"pid": int64(0)}, "target.pid: must be a process id >= 1"},
	} {
		t.Run(tc.action+":"+tc.want, func(t *testing.T) {
			err := New().Validate(context.Background(), tc.action, tc.params, tc.sel)
			require.Error(t, err)
			assert.ErrorIs(t, err, plugins.ErrInvalidParams)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	for _, ok := range []struct {
		action string
		params plugins.Params
	}{
		{"loss", plugins.Params{"percent": 100.0}},
		{"loss", plugins.Params{"percent": int64(30), "cidrs": []any{"10.0.0.0/8", "fd00::1"}, "ports": []any{"5432"}, "direction": "egress"}},
		{"block", plugins.Params{"containers": []any{"db"}, "reject": true}},
		{"dns", plugins.Params{}},
		{"bandwidth", plugins.Params{"rate": "1mbit"}},
	} {
		assert.NoError(t, New().Validate(context.Background(), ok.action, ok.params, plugins.Params{"host": true}), ok.action)
	}
	assert.ErrorIs(t, New().Validate(context.Background(), "corrupt", nil, sel), plugins.ErrUnknownAction)
}

func TestTableName(t *testing.T) {
	for target, want := range map[string]string{
		"api-1":                       "chaosctl_api_1_0a1b2c3d",
		"pid 42":                      "chaosctl_pid_42_0a1b2c3d",
		"/Shop_Checkout.Service.Long": "chaosctl_shop_checkout_se_0a1b2c3d",
		"---":                         "chaosctl_t_0a1b2c3d",
	} {
		got := tableName(target, "0a1b2c3d")
		assert.Equal(t, want, got, target)
		assert.Regexp(t, `^chaosctl_[a-z0-9_]+$`, got)
	}
	a, err := newToken()
	require.NoError(t, err)
	b, _ := newToken()
	assert.Len(t, a, 8)
	assert.NotEqual(t, a, b)
}

func cidr(s string) *net.IPNet { n, _ := parseCIDR(s); return n }

func TestRuleBuilding(t *testing.T) {
	m, errs := parseMatch(plugins.Params{"cidrs": []any{"10.1.0.0/16", "fd00::/64"}, "ports": []any{"5432"}})
	require.Empty(t, errs)
	rules := m.rules(Both, Rule{NotLo: true, Percent: 30, Verdict: Drop})
	// 2 chains x 2 peers x 2 protocols x 1 port x 2 port sides
	require.Len(t, rules, 16)
	var s []string
	for _, r := range rules[:4] {
		s = append(s, r.String())
	}
	assert.Equal(t, []string{
		`iifname != "lo" ip saddr 10.1.0.0/16 tcp dport 5432 numgen random mod 10000 < 3000 counter drop`,
		`iifname != "lo" ip saddr 10.1.0.0/16 tcp sport 5432 numgen random mod 10000 < 3000 counter drop`,
		`iifname != "lo" ip saddr 10.1.0.0/16 udp dport 5432 numgen random mod 10000 < 3000 counter drop`,
		`iifname != "lo" ip saddr 10.1.0.0/16 udp sport 5432 numgen random mod 10000 < 3000 counter drop`,
	}, s)
	assert.Equal(t, `oifname != "lo" ip6 daddr fd00::/64 udp sport 5432 numgen random mod 10000 < 3000 counter drop`, rules[15].String())

	for _, tc := range []struct {
		name string
		r    Rule
		want []string // expression types in order
	}{
		{"loss all", Rule{Chain: chainIn, NotLo: true, Percent: 30, Verdict: Drop},
			[]string{"Meta", "Cmp", "Numgen", "Byteorder", "Cmp", "Counter", "Verdict"}},
		{"block v4 peer", Rule{Chain: chainOut, Peer: cidr("10.0.0.7"), Verdict: Drop},
			[]string{"Meta", "Cmp", "Payload", "Bitwise", "Cmp", "Counter", "Verdict"}},
		{"reject tcp port", Rule{Chain: chainOut, Proto: unix.IPPROTO_TCP, Port: 53, PortDst: true, Verdict: Reject},
			[]string{"Meta", "Cmp", "Payload", "Cmp", "Counter", "Reject"}},
		{"100% is every packet", Rule{Chain: chainIn, Percent: 100, Verdict: Drop}, []string{"Counter", "Verdict"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range tc.r.Exprs() {
				got = append(got, strings.TrimPrefix(strings.Split(typeName(e), ".")[1], ""))
			}
			assert.Equal(t, tc.want, got)
		})
	}
	// The random match compares big-endian ticks, and the peer the masked address.
	ex := Rule{Chain: chainIn, Percent: 30, Verdict: Drop}.Exprs()
	assert.Contains(t, typeDump(ex[2]), "[0 0 11 184]") // 3000
	ex = Rule{Chain: chainOut, Peer: cidr("10.1.2.3/16"), Verdict: Drop}.Exprs()
	assert.Contains(t, typeDump(ex[2]), "Offset:16") // ip daddr
	assert.Contains(t, typeDump(ex[4]), "[10 1 0 0]")
	assert.Equal(t, uint32(1), percentTicks(0.01))
	assert.Equal(t, uint32(10000), percentTicks(100))
}

func TestPlans(t *testing.T) {
	p := lossPlan(30, Ingress, Match{})
	assert.Equal(t, "drop 30% ingress", p.Summary)
	require.Len(t, p.Rules, 1)

	p = blockPlan(Match{CIDRs: []*net.IPNet{cidr("172.18.0.3")}}, Both, true, []string{"db"})
	assert.Equal(t, "reject both to/from 172.18.0.3/32 (db)", p.Summary)
	assert.Len(t, p.Rules, 2)

	ns := nameservers([]byte("# docker\nsearch x\nnameserver 127.0.0.11\nnameserver fe80::1%eth0\noptions ndots:0\nnameserver bogus\n"))
	require.Len(t, ns, 2)
	p = dnsPlan(ns, false, nil)
	assert.Equal(t, "drop dns (udp/tcp 53) to 127.0.0.11, fe80::1", p.Summary)
	require.Len(t, p.Rules, 4)
	assert.Equal(t, "ip daddr 127.0.0.11/32 udp dport 53 counter drop", p.Rules[0].String())

	s, err := tbfParams(plugins.Params{"rate": "8mbit"})
	require.NoError(t, err)
	assert.Equal(t, tbfSpec{Rate: 1e6, Burst: 20000, Limit: 120000}, s)
}

func TestLossMode(t *testing.T) {
	withNetem, without := kernel{}, kernel{Netem: ErrNoNetem}
	for _, tc := range []struct {
		params plugins.Params
		k      kernel
		want   string
		err    string
	}{
		{plugins.Params{}, without, ModeNftables, ""},
		{plugins.Params{"direction": "egress"}, withNetem, ModeNetem, ""},
		{plugins.Params{"direction": "both"}, withNetem, ModeNftables, ""},
		{plugins.Params{"direction": "egress", "cidrs": []any{"10.0.0.0/8"}}, withNetem, ModeNftables, ""},
		{plugins.Params{"mode": "netem", "direction": "egress"}, without, "", "params.mode: netem unavailable"},
		{plugins.Params{"mode": "netem"}, withNetem, "", "params.mode: netem drops egress on one device only"},
		{plugins.Params{"mode": "nftables", "direction": "egress"}, withNetem, ModeNftables, ""},
	} {
		got, err := lossMode(tc.params, tc.k)
		if tc.err != "" {
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%v", tc.params)
	}
}

func TestCapEff(t *testing.T) {
	caps, err := parseCapEff("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n")
	require.NoError(t, err)
	assert.NotZero(t, caps&(1<<capNetAdmin))
	_, err = parseCapEff("Name: x\n")
	assert.Error(t, err)
}

// TestPreflightRefuses: no CAP_NET_ADMIN, no nf_tables, no netem, no tbf:
// each is a clear error at Targets and Inject, before anything is injected.
func TestPreflightRefuses(t *testing.T) {
	ctx := context.Background()
	ok := func() (uint64, error) { return 1 << capNetAdmin, nil }
	for _, tc := range []struct {
		name   string
		caps   func() (uint64, error)
		k      kernel
		action string
		params plugins.Params
		is     error
		want   string
	}{
		{"no CAP_NET_ADMIN", func() (uint64, error) { return 0, nil }, kernel{}, "loss", plugins.Params{"percent": 5.0}, ErrNoCapNetAdmin, "needs CAP_NET_ADMIN"},
		{"no nf_tables", ok, kernel{Nftables: ErrNoNftables}, "block", plugins.Params{"cidrs": []any{"10.0.0.1"}}, ErrNoNftables, "nf_tables unavailable"},
		{"no numgen", ok, kernel{Numgen: ErrNoNftables}, "loss", plugins.Params{"percent": 5.0}, ErrNoNftables, "nf_tables"},
		{"no netem", ok, kernel{Netem: ErrNoNetem}, "loss", plugins.Params{"percent": 5.0, "mode": "netem", "direction": "egress"}, ErrNoNetem, "params.mode"},
		{"no tbf", ok, kernel{Tbf: ErrNoTbf}, "bandwidth", plugins.Params{"rate": "1mbit"}, ErrNoTbf, "tbf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &Fault{capEff: tc.caps}
			f.support.probe = func() kernel { return tc.k }
			_, err := f.Targets(ctx, tc.action, tc.params, plugins.Params{"host": true})
			require.ErrorIs(t, err, tc.is)
			assert.Contains(t, err.Error(), tc.want)
			rd, err := f.Inject(ctx, plugins.InjectRequest{Action: tc.action, Params: tc.params, Target: plugins.Target{Kind: "host", ID: "host"}})
			require.ErrorIs(t, err, tc.is)
			assert.Nil(t, rd)
		})
	}
}

// TestPeerContainers: a named peer resolves to its addresses; one that is
// not running is an error naming params.containers.
func TestPeerContainers(t *testing.T) {
	e := fakeEngine{
		"db":  {ID: "d1", Name: "db", Running: true, State: "running", Networks: map[string]dockerengine.Endpoint{"n": {NetworkName: "n", IPv4: "172.18.0.3", IPv6: "fd00::3"}}},
		"old": {ID: "o1", Name: "old", State: "exited"},
	}
	got, err := containerPeers(context.Background(), e, []string{"db"})
	require.NoError(t, err)
	require.Len(t, got, 2)
	_, err = containerPeers(context.Background(), e, []string{"old"})
	require.ErrorIs(t, err, plugins.ErrInvalidParams)
	assert.EqualError(t, err, "params.containers: container old is exited, not running")
	_, err = containerPeers(context.Background(), e, []string{"nope"})
	assert.ErrorContains(t, err, "params.containers: nope: not found")
}

type fakeEngine map[string]dockerengine.Container

func (f fakeEngine) Inspect(_ context.Context, id string) (dockerengine.Container, error) {
	c, ok := f[id]
	if !ok {
		return dockerengine.Container{}, dockerengine.ErrNotFound
	}
	return c, nil
}

// The rest of dockerengine.Engine is never called here.
func (fakeEngine) List(context.Context) ([]dockerengine.Container, error) {
	return nil, errors.ErrUnsupported
}
func (fakeEngine) Kill(context.Context, string, string) error           { return errors.ErrUnsupported }
func (fakeEngine) Stop(context.Context, string, time.Duration) error    { return errors.ErrUnsupported }
func (fakeEngine) Start(context.Context, string) error                  { return errors.ErrUnsupported }
func (fakeEngine) Restart(context.Context, string, time.Duration) error { return errors.ErrUnsupported }
func (fakeEngine) Pause(context.Context, string) error                  { return errors.ErrUnsupported }
func (fakeEngine) Unpause(context.Context, string) error                { return errors.ErrUnsupported }
func (fakeEngine) Disconnect(context.Context, string, string) error     { return errors.ErrUnsupported }
func (fakeEngine) Connect(context.Context, string, string, dockerengine.Endpoint) error {
	return errors.ErrUnsupported
}
func (fakeEngine) Events(context.Context, ...string) (<-chan dockerengine.Event, <-chan error) {
	return nil, nil
}
func (fakeEngine) EventsSince(context.Context, time.Time, ...string) (<-chan dockerengine.Event, <-chan error) {
	return nil, nil
}
func (fakeEngine) Close() error { return nil }

var _ dockerengine.Engine = fakeEngine(nil)

func typeName(v any) string { return fmt.Sprintf("%T", v) }
func typeDump(v any) string { return fmt.Sprintf("%+v", v) }
