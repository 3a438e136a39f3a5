package network

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables/expr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"

	"github.com/chaosctl/chaosctl/plugins"
)

func TestQNameWire(t *testing.T) {
	for name, want := range map[string]string{
		"db.internal":     "\x02db\x08internal\x00",
		"a":               "\x01a\x00",
		"api.example.com": "\x03api\x07example\x03com\x00",
	} {
		assert.Equal(t, []byte(want), qnameWire(name), name)
	}
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61)
	require.Len(t, long, maxNameLen)
	assert.Len(t, qnameWire(long), 255, "the longest name is 255 bytes on the wire")
}

func TestDNSNamesValidate(t *testing.T) {
	sel := plugins.Params{"host": true}
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 62)
	for _, tc := range []struct {
		names any
		want  string
	}{
		{[]any{}, "params.names: empty: give at least one name"},
		{[]any{""}, `params.names: "": an empty name`},
		{[]any{"db..internal"}, `params.names: "db..internal" has an empty label`},
		{[]any{".db"}, `params.names: ".db" has an empty label`},
		{[]any{"db.internal", "api example"}, `params.names: "api example": label "api example" has ' '`},
		{[]any{"*.example.com"}, `params.names: "*.example.com": label "*" has '*'`},
		{[]any{strings.Repeat("x", 64) + ".com"}, `label "` + strings.Repeat("x", 64) + `" is 64 characters: at most 63`},
		{[]any{long}, "is 254 characters: a DNS name has at most 253"},
		{[]any{7}, "params.names: element 0: want a string"},
		{"db.internal", "params.names: want a list of strings"},
	} {
		err := New().Validate(context.Background(), "dns", plugins.Params{"names": tc.names}, sel)
		require.Error(t, err, tc.want)
		assert.ErrorIs(t, err, plugins.ErrInvalidParams)
		assert.Contains(t, err.Error(), tc.want)
	}
	for _, ok := range [][]any{{"db.internal"}, {"DB.Internal."}, {"chaosctl-test_b-1"}, {long[:len(long)-1]}} {
		assert.NoError(t, New().Validate(context.Background(), "dns", plugins.Params{"names": ok}, sel), ok)
	}
	got, errs := nameParam(plugins.Params{"names": []any{"DB.Internal.", " api.example.com "}})
	require.Empty(t, errs)
	assert.Equal(t, []string{"db.internal", "api.example.com"}, got)
}

func TestDNSNamesPlan(t *testing.T) {
	p := dnsPlan([]*net.IPNet{cidr("127.0.0.11")}, true, []string{"db.internal", "api.example.com"})
	assert.Equal(t, "refuse DNS for db.internal, api.example.com (udp/tcp 53 to 127.0.0.11)", p.Summary)
	var s []string
	for _, r := range p.Rules {
		s = append(s, r.String())
	}
	assert.Equal(t, []string{
		"ip daddr 127.0.0.11/32 udp dport 53 dns qname db.internal counter reject",
		"ip daddr 127.0.0.11/32 udp dport 53 dns qname api.example.com counter reject",
		"ip daddr 127.0.0.11/32 tcp dport 53 dns qname db.internal counter reject",
		"ip daddr 127.0.0.11/32 tcp dport 53 dns qname api.example.com counter reject",
	}, s)
	p = dnsPlan([]*net.IPNet{cidr("10.0.0.2")}, false, []string{"db.internal"})
	assert.Equal(t, "drop DNS for db.internal (udp/tcp 53 to 10.0.0.2)", p.Summary)

	// A rule's comment stays within the kernel's 256 bytes of user data.
	r := Rule{Chain: chainOut, Peer: cidr("fd00::1"), Proto: unix.IPPROTO_TCP, Port: 53, PortDst: true, QName: strings.Repeat("n", 253), Verdict: Reject}
	assert.Contains(t, r.String(), "dns qname "+strings.Repeat("n", 97)+"... counter reject")
	assert.Less(t, len(markerPrefix+"0a1b2c3d "+r.String()), 256)
}

func TestQNameExprs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proto byte
		want  []expr.Any
	}{
		{"db.internal", unix.IPPROTO_UDP, []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 20, Len: 13},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 13,
				Mask: []byte{0xff, 0xdf, 0xdf, 0xff, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xff},
				Xor:  []byte{0, 0x20, 0x20, 0, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte("\x02db\x08internal\x00")},
		}},
		// TCP: after the 2-byte length prefix, from the end of the TCP header.
		{"db.internal", unix.IPPROTO_TCP, []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBase(unix.NFT_PAYLOAD_INNER_HEADER), Offset: 14, Len: 13},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 13,
				Mask: []byte{0xff, 0xdf, 0xdf, 0xff, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xff},
				Xor:  []byte{0, 0x20, 0x20, 0, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte("\x02db\x08internal\x00")},
		}},
		// No letters, no bitwise.
		{"1.2", unix.IPPROTO_UDP, []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 20, Len: 5},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte("\x011\x012\x00")},
		}},
	} {
		assert.Equal(t, tc.want, qnameExprs(tc.proto, tc.name), "%s/%d", tc.name, tc.proto)
	}

	// A name longer than one compare (16 bytes) is compared in chunks of
	// 16 at consecutive offsets, which together are the wire form.
	name := "a-very-long-service-name.payments.example.com" // 47 bytes, 48 on the wire
	ex := qnameExprs(unix.IPPROTO_UDP, name)
	var wire []byte
	off := uint32(20)
	for i, e := range ex {
		switch e := e.(type) {
		case *expr.Payload:
			assert.Equal(t, off, e.Offset, "chunk at expression %d", i)
			assert.LessOrEqual(t, e.Len, uint32(cmpMaxLen))
			off += e.Len
		case *expr.Cmp:
			assert.LessOrEqual(t, len(e.Data), cmpMaxLen)
			wire = append(wire, e.Data...)
		}
	}
	assert.Equal(t, qnameWire(name), wire)
	assert.Len(t, ex, 9, "3 chunks of payload, bitwise, cmp")

	// The whole rule: port 53 first, then the name, then the verdict.
	r := Rule{Chain: chainOut, Peer: cidr("127.0.0.11"), Proto: unix.IPPROTO_UDP, Port: 53, PortDst: true, QName: "db.internal", Verdict: Drop}
	var kinds []string
	for _, e := range r.Exprs() {
		kinds = append(kinds, strings.Split(typeName(e), ".")[1])
	}
	assert.Equal(t, []string{"Meta", "Cmp", "Payload", "Bitwise", "Cmp", "Meta", "Cmp", "Payload", "Cmp",
		"Payload", "Bitwise", "Cmp", "Counter", "Verdict"}, kinds)
}

// dnsServer is a tiny DNS responder on UDP and TCP port 53 in ns: it
// answers every A question with 10.9.8.7 and records the names it saw.
type dnsServer struct {
	mu   sync.Mutex
	seen []string
}

func (s *dnsServer) answer(q []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 {
		return nil
	}
	s.mu.Lock()
	s.seen = append(s.seen, qs[0].Name.String())
	s.mu.Unlock()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
	_ = b.StartQuestions()
	_ = b.Question(qs[0])
	_ = b.StartAnswers()
	if qs[0].Type == dnsmessage.TypeA {
		_ = b.AResource(dnsmessage.ResourceHeader{Name: qs[0].Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}, dnsmessage.AResource{A: [4]byte{10, 9, 8, 7}})
	}
	out, _ := b.Finish()
	return out
}

func (s *dnsServer) saw(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.seen {
		if n == name {
			return true
		}
	}
	return false
}

func startDNS(t *testing.T, ns testNS) *dnsServer {
	t.Helper()
	s := &dnsServer{}
	udp := udpListen(t, ns, 53)
	var ln net.Listener
	inNS(t, ns.path(), func() (err error) { ln, err = net.Listen("tcp4", ns.ip+":53"); return err })
	t.Cleanup(func() { ln.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := udp.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := s.answer(buf[:n]); out != nil {
				_, _ = udp.WriteTo(out, from)
			}
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				var l [2]byte
				if _, err := io.ReadFull(c, l[:]); err != nil {
					return
				}
				q := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, q); err != nil {
					return
				}
				out := s.answer(q)
				_, _ = c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(out))), out...))
			}()
		}
	}()
	return s
}

// lookupFrom resolves name (A only) with Go's own stub resolver from the
// namespace from, asking server over network ("udp" or "tcp"): the client
// a real service would use. One try of at most 1.5s.
func lookupFrom(from testNS, server, name, network string) error {
	r := &net.Resolver{PreferGo: true, StrictErrors: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var c net.Conn
		err := enterNS(from.path(), func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, network, server+":53")
			return err
		})
		return c, err
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	ips, err := r.LookupIP(ctx, "ip4", name)
	if err == nil && (len(ips) != 1 || !ips[0].Equal(net.IPv4(10, 9, 8, 7))) {
		err = errors.New("wrong answer")
	}
	return err
}

// TestDNSNamesInNetns: with names, the queries for db.internal (and the
// long name, any case) get no answer over UDP and TCP, while other names,
// and subdomains of db.internal, are answered; after revert all are.
func TestDNSNamesInNetns(t *testing.T) {
	a, b := pair(t)
	srv := startDNS(t, b)
	long := "a-very-long-service-name-for-three-chunks.payments.example.com"
	blocked := []string{"db.internal.", "DB.Internal.", "dB.iNtErNaL.", long + "."}
	open := []string{"other.internal.", "x.db.internal.", "db.internal.x.", "db.interna."}
	for _, nw := range []string{"udp", "tcp"} {
		for _, n := range append(blocked, open...) {
			require.NoError(t, lookupFrom(a, b.ip, n, nw), "before the fault: %s over %s", n, nw)
		}
	}
	require.True(t, srv.saw("DB.Internal."), "the stub client sends the name as typed, so the case folding is tested")

	rd := inject(t, New(), "dns", a, plugins.Params{"resolvers": []any{b.ip}, "names": []any{"db.internal", long}})
	st := status(t, "dns", rd)
	require.True(t, st.Active, st.Detail)
	assert.Contains(t, st.Detail, ": drop DNS for db.internal, "+long+" (udp/tcp 53 to "+b.ip+") (4 rules, 0 packets matched)")
	for _, nw := range []string{"udp", "tcp"} {
		for _, n := range blocked {
			assert.Error(t, lookupFrom(a, b.ip, n, nw), "during the fault %s over %s resolves", n, nw)
		}
		for _, n := range open {
			assert.NoError(t, lookupFrom(a, b.ip, n, nw), "during the fault: %s over %s", n, nw)
		}
	}
	assert.NotContains(t, status(t, "dns", rd).Detail, " 0 packets matched")
	require.NoError(t, New().Revert(context.Background(), "dns", rd))
	for _, nw := range []string{"udp", "tcp"} {
		for _, n := range blocked {
			assert.NoError(t, lookupFrom(a, b.ip, n, nw), "after revert: %s over %s", n, nw)
		}
	}

	// refuse: the blocked name fails at once (ICMP port unreachable, TCP
	// reset), the other resolves.
	rd = inject(t, New(), "dns", a, plugins.Params{"resolvers": []any{b.ip}, "names": []any{"db.internal"}, "refuse": true})
	assert.Contains(t, status(t, "dns", rd).Detail, ": refuse DNS for db.internal (udp/tcp 53 to "+b.ip+")")
	for _, nw := range []string{"udp", "tcp"} {
		err := lookupFrom(a, b.ip, "db.internal.", nw)
		var de *net.DNSError
		require.ErrorAs(t, err, &de, nw)
		assert.False(t, de.IsTimeout, "%s: refused, not timed out: %v", nw, err)
		assert.NoError(t, lookupFrom(a, b.ip, "other.internal.", nw), nw)
	}
	require.NoError(t, New().Revert(context.Background(), "dns", rd))
}
