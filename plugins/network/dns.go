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

	"golang.org/x/sys/unix"

	"github.com/chaosctl/chaosctl/plugins"
)

var dnsAction = &action{
	Action: plugins.Action{
		Name: "dns", Reversible: true, Selector: selector(),
		Doc: "make name resolution fail: drop (or refuse) UDP and TCP port 53 to the target's resolvers (its /etc/resolv.conf nameservers) for the fault's duration",
		Params: []plugins.Param{
			{Name: "resolvers", Type: plugins.TypeStrings, Doc: "resolver addresses to cut (default: every nameserver in the target's /etc/resolv.conf)"},
			{Name: "refuse", Type: plugins.TypeBool, Default: false, Doc: "reject (TCP reset, ICMP port unreachable: fails fast) instead of dropping (times out)"},
		},
	},
	validate: func(p plugins.Params) []error {
		_, errs := resolverParam(p)
		return errs
	},
	plan: func(_ context.Context, _ *Fault, p plugins.Params, t nsTarget, _ *revertData) (plan, error) {
		ns, errs := resolverParam(p)
		if len(errs) > 0 {
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
		return dnsPlan(ns, p["refuse"] == true), nil
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
// query leaves (before Docker's embedded DNS rewrites the port).
func dnsPlan(resolvers []*net.IPNet, refuse bool) plan {
	v := Drop
	if refuse {
		v = Reject
	}
	var rules []Rule
	names := make([]string, len(resolvers))
	for i, n := range resolvers {
		names[i] = n.IP.String()
		for _, proto := range []byte{unix.IPPROTO_UDP, unix.IPPROTO_TCP} {
			rules = append(rules, Rule{Chain: chainOut, Peer: n, Proto: proto, Port: 53, PortDst: true, Verdict: v})
		}
	}
	return plan{Rules: rules, Summary: fmt.Sprintf("%s dns (udp/tcp 53) to %s", v, strings.Join(names, ", "))}
}
