package network

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/chaosctl/chaosctl/plugins"
)

var dnsAction = &action{
	Action: plugins.Action{
		Name: "dns", Reversible: true, Selector: selector(),
		Doc: "make name resolution fail: drop (or refuse) UDP and TCP port 53 to the target's resolvers (its /etc/resolv.conf nameservers), or with names only the queries for those names, for the fault's duration",
		Params: []plugins.Param{
			{Name: "resolvers", Type: plugins.TypeStrings, Doc: "resolver addresses to cut (default: every nameserver in the target's /etc/resolv.conf)"},
			{Name: "refuse", Type: plugins.TypeBool, Default: false, Doc: "reject (TCP reset, ICMP port unreachable: fails fast) instead of dropping (times out)"},
			{Name: "names", Type: plugins.TypeStrings, Doc: "only queries for these exact names fail (any case; not their subdomains), e.g. [\"db.internal\"]; other names resolve (default: every query)"},
		},
	},
	validate: func(p plugins.Params) []error {
		_, errs := resolverParam(p)
		_, nerrs := nameParam(p)
		return append(errs, nerrs...)
	},
	plan: func(_ context.Context, _ *Fault, p plugins.Params, t nsTarget, _ *revertData) (plan, error) {
		ns, errs := resolverParam(p)
		names, nerrs := nameParam(p)
		if errs = append(errs, nerrs...); len(errs) > 0 {
			return plan{}, errors.Join(errs...)
		}
		if len(ns) == 0 {
			path := filepath.Join(t.Root, "etc/resolv.conf")
			b, err := os.ReadFile(path)
			if err != nil {
				return plan{}, fmt.Errorf("params.resolvers: read the target's resolv.conf (%s): %w", path, err)
			}
			ns = nameservers(b)
			if len(ns) == 0 {
				return plan{}, fieldError("params.resolvers", fmt.Sprintf("no nameserver in %s: give resolvers", path))
			}
		}
		return dnsPlan(ns, p["refuse"] == true, names), nil
	},
}

func resolverParam(p plugins.Params) ([]*net.IPNet, []error) {
	list, err := strList(p, "resolvers")
	if err != nil {
		return nil, []error{err}
	}
	var out []*net.IPNet
	var errs []error
	for _, s := range list {
		ip := net.ParseIP(strings.TrimSpace(s))
		if ip == nil {
			errs = append(errs, fieldError("params.resolvers", fmt.Sprintf("%q is not an IP address", s)))
			continue
		}
		n, _ := parseCIDR(ip.String())
		out = append(out, n)
	}
	return out, errs
}

// nameservers reads the nameserver lines of a resolv.conf.
func nameservers(conf []byte) []*net.IPNet {
	var out []*net.IPNet
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "%") // fe80::1%eth0
		if n, err := parseCIDR(addr); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// dnsPlan cuts UDP and TCP 53 to each resolver, on output, where the
// query leaves (before Docker's embedded DNS rewrites the port); with
// names, only the queries for those names (one rule per resolver,
// protocol and name).
func dnsPlan(resolvers []*net.IPNet, refuse bool, names []string) plan {
	v := Drop
	if refuse {
		v = Reject
	}
	var rules []Rule
	addrs := make([]string, len(resolvers))
	for i, n := range resolvers {
		addrs[i] = n.IP.String()
		for _, proto := range []byte{unix.IPPROTO_UDP, unix.IPPROTO_TCP} {
			r := Rule{Chain: chainOut, Peer: n, Proto: proto, Port: 53, PortDst: true, Verdict: v}
			if len(names) == 0 {
				rules = append(rules, r)
			}
			for _, name := range names {
				r.QName = name
				rules = append(rules, r)
			}
		}
	}
	if len(names) == 0 {
		return plan{Rules: rules, Summary: fmt.Sprintf("%s dns (udp/tcp 53) to %s", v, strings.Join(addrs, ", "))}
	}
	verb := "drop"
	if refuse {
		verb = "refuse"
	}
	return plan{Rules: rules, Summary: fmt.Sprintf("%s DNS for %s (udp/tcp 53 to %s)", verb, strings.Join(names, ", "), strings.Join(addrs, ", "))}
}

// Matching one query name in nftables, with no resolver process: the
// question's QNAME follows the 12-byte DNS header, so it starts at byte 20
// of a UDP datagram (after the 8-byte UDP header) and at byte 2 + 12 of
// the TCP payload (after the 2-byte length prefix). The TCP payload's
// start moves with the TCP options, so the TCP rule loads from the "inner
// header" base (NFT_PAYLOAD_INNER_HEADER, Linux 5.16+), which the kernel
// places after the TCP header by its data offset; the UDP rule uses the
// transport header, as any nf_tables kernel has it.
//
// The name is compared in DNS wire form (length-prefixed labels and the
// terminating zero, which makes the match exact: neither a subdomain nor
// a longer name matches). A cmp holds at most 16 bytes (the kernel's
// struct nft_data; nft_cmp_init refuses more with EOVERFLOW), so the wire
// form is compared in chunks of 16, each loaded into register 1 on its
// own: the longest name, 255 bytes, is 16 chunks of 3 expressions, well
// under the kernel's 128 expressions per rule. DNS names are
// case-insensitive and clients send them as typed (and some resolvers
// randomise the case, "0x20"), so every byte that is a letter in the name
// is OR-ed with 0x20 by a bitwise expression before the compare: one rule
// matches DB.Internal, db.internal and dB.iNtErNaL alike.
//
// What is not matched, and so resolves: a TCP query whose length prefix
// and message arrive in separate segments, and the second of two queries
// sent in one TCP segment.
const (
	dnsHeaderLen = 12
	udpHeaderLen = 8
	tcpLenPrefix = 2
	cmpMaxLen    = 16  // bytes one nft cmp (and bitwise) takes
	maxNameLen   = 253 // a DNS name in text, without the trailing dot: 255 in wire form
	maxLabelLen  = 63
)

// qnameWire is name in DNS wire form: each label prefixed by its length,
// then a zero byte. The name is valid (nameParam).
func qnameWire(name string) []byte {
	var b []byte
	for _, l := range strings.Split(name, ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

// qnameExprs match DNS queries for name in a UDP or TCP packet (see above).
func qnameExprs(proto byte, name string) []expr.Any {
	base, off := expr.PayloadBaseTransportHeader, uint32(udpHeaderLen+dnsHeaderLen)
	if proto == unix.IPPROTO_TCP {
		base, off = expr.PayloadBase(unix.NFT_PAYLOAD_INNER_HEADER), tcpLenPrefix+dnsHeaderLen
	}
	wire := qnameWire(name)
	var ex []expr.Any
	for i := 0; i < len(wire); i += cmpMaxLen {
		chunk := wire[i:min(i+cmpMaxLen, len(wire))]
		n := uint32(len(chunk))
		ex = append(ex, &expr.Payload{DestRegister: 1, Base: base, Offset: off + uint32(i), Len: n})
		// (x & mask) ^ xor: with mask ^0x20 and xor 0x20 on letters, x | 0x20.
		mask, xor, letters := make([]byte, n), make([]byte, n), false
		for j, c := range chunk {
			mask[j] = 0xff
			if c >= 'a' && c <= 'z' {
				mask[j], xor[j], letters = 0xdf, 0x20, true
			}
		}
		if letters {
			ex = append(ex, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: mask, Xor: xor})
		}
		ex = append(ex, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: chunk})
	}
	return ex
}

// shortName keeps a rule's comment within the kernel's 256 bytes of user
// data: a name of up to 253 characters does not fit beside the rest.
func shortName(name string) string {
	if len(name) <= 100 {
		return name
	}
	return name[:97] + "..."
}

// nameParam reads names: DNS names of labels of 1 to 63 characters of
// a-z, 0-9, "-" and "_" (Docker container names may have it), at most 253
// characters in all; any case (the match folds it), an optional trailing
// dot. They come back lowercase, without the dot.
func nameParam(p plugins.Params) ([]string, []error) {
	list, err := strList(p, "names")
	if err != nil {
		return nil, []error{err}
	}
	if p["names"] != nil && len(list) == 0 {
		return nil, []error{fieldError("params.names", "empty: give at least one name, or leave names out to fail every query")}
	}
	var out []string
	var errs []error
	for _, s := range list {
		name, err := checkName(s)
		if err != nil {
			errs = append(errs, fieldError("params.names", err.Error()))
			continue
		}
		out = append(out, name)
	}
	return out, errs
}

func checkName(s string) (string, error) {
	name := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	switch {
	case name == "":
		return "", fmt.Errorf("%q: an empty name", s)
	case len(name) > maxNameLen:
		return "", fmt.Errorf("%q is %d characters: a DNS name has at most %d", shortName(s), len(name), maxNameLen)
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" {
			return "", fmt.Errorf("%q has an empty label", s)
		}
		if len(l) > maxLabelLen {
			return "", fmt.Errorf("%q: label %q is %d characters: at most %d", shortName(s), shortName(l), len(l), maxLabelLen)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("%q: label %q has %q: want letters, digits, \"-\" or \"_\"", s, l, c)
			}
		}
	}
	return name, nil
}
