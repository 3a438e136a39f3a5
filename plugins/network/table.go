package network

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// The nft side of the plugin: every object a fault adds lives in one inet
// table, chaosctl_<fault id>, holding two base chains (input and output
// hooks) at raw priority, before conntrack and before any DNAT (Docker's
// embedded DNS rewrites port 53 at nat priority), and rules that each carry
// the fault's marker in their comment. Revert deletes that table, and only
// when its rules carry the marker.

// Chains of a fault's table.
const (
	chainIn  = "chaosctl_in"  // hook input: traffic reaching the target
	chainOut = "chaosctl_out" // hook output: traffic the target sends
)

// markerPrefix starts every rule's comment: "chaosctl:<token> <what>".
const markerPrefix = "chaosctl:"

// maxRules bounds the rules one fault may add (cidrs x ports x protocols).
const maxRules = 512

// Direction of the traffic a rule sees, from the target's side.
type Direction string

const (
	Ingress Direction = "ingress"
	Egress  Direction = "egress"
	Both    Direction = "both"
)

func (d Direction) chains() []string {
	switch d {
	case Ingress:
		return []string{chainIn}
	case Egress:
		return []string{chainOut}
	}
	return []string{chainIn, chainOut}
}

// Verdict of a rule.
type Verdict string

const (
	Drop   Verdict = "drop"
	Reject Verdict = "reject"
)

// Rule is one nft rule of a fault, before it becomes expressions.
type Rule struct {
	Chain   string     // chainIn or chainOut
	Peer    *net.IPNet // the other end's address: saddr on input, daddr on output; nil: any
	Proto   byte       // unix.IPPROTO_TCP, IPPROTO_UDP; 0: any
	Port    uint16     // with Proto: the port to match
	PortDst bool       // match the destination port (else the source port)
	NotLo   bool       // skip loopback traffic (a lossy link is not lo)
	Percent float64    // (0, 100): only that share of the packets, by numgen random; 0 or 100: all
	QName   string     // with Proto and Port 53: only DNS queries for this name (lowercase, no trailing dot); see dns.go
	Verdict Verdict
}

// String is the rule as nft would print it, more or less; it is the
// rule's comment after the marker, and what Status shows.
func (r Rule) String() string {
	var b []string
	if r.NotLo {
		if r.Chain == chainIn {
			b = append(b, `iifname != "lo"`)
		} else {
			b = append(b, `oifname != "lo"`)
		}
	}
	if r.Peer != nil {
		fam, side := "ip", "saddr"
		if r.Peer.IP.To4() == nil {
			fam = "ip6"
		}
		if r.Chain == chainOut {
			side = "daddr"
		}
		b = append(b, fmt.Sprintf("%s %s %s", fam, side, r.Peer))
	}
	if r.Proto != 0 {
		p := map[byte]string{unix.IPPROTO_TCP: "tcp", unix.IPPROTO_UDP: "udp"}[r.Proto]
		if r.Port != 0 {
			side := "sport"
			if r.PortDst {
				side = "dport"
			}
			b = append(b, fmt.Sprintf("%s %s %d", p, side, r.Port))
		} else {
			b = append(b, "meta l4proto "+p)
		}
	}
	if r.QName != "" {
		b = append(b, "dns qname "+shortName(r.QName))
	}
	if r.Percent > 0 && r.Percent < 100 {
		b = append(b, fmt.Sprintf("numgen random mod %d < %d", numgenMod, percentTicks(r.Percent)))
	}
	b = append(b, "counter", string(r.Verdict))
	return strings.Join(b, " ")
}

// numgenMod is the random match's modulus: percent in steps of 0.01.
const numgenMod = 10000

func percentTicks(p float64) uint32 { return uint32(p*numgenMod/100 + 0.5) }

// Exprs is the rule as nft expressions.
func (r Rule) Exprs() []expr.Any {
	var ex []expr.Any
	cmp := func(op expr.CmpOp, data []byte) {
		ex = append(ex, &expr.Cmp{Op: op, Register: 1, Data: data})
	}
	if r.NotLo {
		key := expr.MetaKeyIIFNAME
		if r.Chain == chainOut {
			key = expr.MetaKeyOIFNAME
		}
		ex = append(ex, &expr.Meta{Key: key, Register: 1})
		cmp(expr.CmpOpNeq, ifname("lo"))
	}
	if r.Peer != nil {
		ip, size, proto := r.Peer.IP.To4(), uint32(4), byte(unix.NFPROTO_IPV4)
		off := uint32(12) // ip saddr
		if r.Chain == chainOut {
			off = 16 // ip daddr
		}
		if ip == nil {
			ip, size, proto = r.Peer.IP.To16(), 16, unix.NFPROTO_IPV6
			off = 8 // ip6 saddr
			if r.Chain == chainOut {
				off = 24
			}
		}
		ex = append(ex, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1})
		cmp(expr.CmpOpEq, []byte{proto})
		ex = append(ex, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size})
		mask := []byte(r.Peer.Mask)
		if len(mask) != int(size) { // a v4 mask of 16 bytes
			mask = mask[len(mask)-int(size):]
		}
		ex = append(ex, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: mask, Xor: make([]byte, size)})
		cmp(expr.CmpOpEq, ip.Mask(mask))
	}
	if r.Proto != 0 {
		ex = append(ex, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1})
		cmp(expr.CmpOpEq, []byte{r.Proto})
		if r.Port != 0 {
			off := uint32(0)
			if r.PortDst {
				off = 2
			}
			ex = append(ex, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2})
			cmp(expr.CmpOpEq, binaryutil.BigEndian.PutUint16(r.Port))
		}
		if r.QName != "" {
			ex = append(ex, qnameExprs(r.Proto, r.QName)...)
		}
	}
	if r.Percent > 0 && r.Percent < 100 {
		// numgen writes host byte order; cmp < compares bytes, so turn it
		// big-endian first (as nft does).
		ex = append(ex,
			&expr.Numgen{Register: 1, Modulus: numgenMod, Type: unix.NFT_NG_RANDOM},
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4})
		cmp(expr.CmpOpLt, binaryutil.BigEndian.PutUint32(percentTicks(r.Percent)))
	}
	ex = append(ex, &expr.Counter{})
	switch {
	case r.Verdict == Reject && r.Proto == unix.IPPROTO_TCP:
		ex = append(ex, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
	case r.Verdict == Reject:
		ex = append(ex, &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH})
	default:
		ex = append(ex, &expr.Verdict{Kind: expr.VerdictDrop})
	}
	return ex
}

func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

// Sentinels of the nft side.
var (
	// ErrNoNftables: the kernel (or the namespace) has no nf_tables.
	ErrNoNftables = errors.New("nf_tables unavailable")
	// ErrForeignTable: a table of our name exists that this fault did not make.
	ErrForeignTable = errors.New("refusing to touch an nft table chaosctl did not create")
)

// nsConn opens an nftables connection in the network namespace at nsPath
// ("/proc/PID/ns/net"). The netlink socket is created inside it, so no
// thread of ours ever changes namespace.
func nsConn(nsPath string) (*nftables.Conn, func(), error) {
	fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", nsPath, err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("nftables in %s: %w", nsPath, err)
	}
	return c, func() { _ = c.CloseLasting(); unix.Close(fd) }, nil
}

// noNftables turns a netlink error of the nftables subsystem into
// ErrNoNftables when it says the subsystem is missing.
func noNftables(err error) error {
	if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("%w: this kernel has no nf_tables (CONFIG_NF_TABLES, module nf_tables): %w", ErrNoNftables, err)
	}
	return err
}

func table(name string) *nftables.Table {
	return &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
}

// createTable adds the fault's table, chains and rules in one netlink
// batch, so either all of it exists or none. The table is created
// exclusively: a table of the same name that exists already is refused.
func createTable(c *nftables.Conn, name, token string, rules []Rule) error {
	if len(rules) == 0 {
		return errors.New("no rules to add")
	}
	if len(rules) > maxRules {
		return fmt.Errorf("%d rules: at most %d (fewer cidrs or ports)", len(rules), maxRules)
	}
	t := c.CreateTable(table(name))
	accept := nftables.ChainPolicyAccept
	chains := map[string]*nftables.Chain{
		chainIn: c.AddChain(&nftables.Chain{Name: chainIn, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityRaw, Policy: &accept}),
		chainOut: c.AddChain(&nftables.Chain{Name: chainOut, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityRaw, Policy: &accept}),
	}
	for _, r := range rules {
		c.AddRule(&nftables.Rule{Table: t, Chain: chains[r.Chain], Exprs: r.Exprs(),
			UserData: userdata.AppendString(nil, userdata.TypeComment, markerPrefix+token+" "+r.String())})
	}
	if err := c.Flush(); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%w: table inet %s exists already", ErrForeignTable, name)
		}
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("%w: the kernel refused the rules (a missing nf_tables expression module: nft_numgen, nft_reject_inet, nft_counter?): %w", ErrNoNftables, err)
		}
		return noNftables(err)
	}
	return nil
}

// tableState is what is really in the kernel under a fault's table name.
type tableState struct {
	Exists  bool
	Ours    int      // rules carrying the marker
	Foreign int      // rules (or chains) without it
	Rules   []string // what our rules say, in order
	Packets uint64   // matched by our rules
}

// readTable reads the fault's table back from the kernel.
func readTable(c *nftables.Conn, name, token string) (tableState, error) {
	var st tableState
	if _, err := c.ListTableOfFamily(name, nftables.TableFamilyINet); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT) {
			return st, nil
		}
		return st, noNftables(fmt.Errorf("list table %s: %w", name, err))
	}
	st.Exists = true
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return st, fmt.Errorf("list chains of %s: %w", name, err)
	}
	for _, ch := range chains {
		if ch.Table.Name != name {
			continue
		}
		if ch.Name != chainIn && ch.Name != chainOut {
			st.Foreign++
			continue
		}
		rules, err := c.GetRules(table(name), ch)
		if err != nil {
			return st, fmt.Errorf("list rules of %s %s: %w", name, ch.Name, err)
		}
		for _, r := range rules {
			comment, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			what, ok := strings.CutPrefix(comment, markerPrefix+token+" ")
			if !ok {
				st.Foreign++
				continue
			}
			st.Ours++
			st.Rules = append(st.Rules, what)
			for _, e := range r.Exprs {
				if cnt, ok := e.(*expr.Counter); ok {
					st.Packets += cnt.Packets
				}
			}
		}
	}
	return st, nil
}

// mine says whether the table under our name is the one this fault made.
func (st tableState) mine() bool { return st.Exists && st.Ours > 0 && st.Foreign == 0 }

// deleteTable deletes the fault's table when it is ours; a table that is
// gone already is done; one that is not ours is left alone and refused.
func deleteTable(c *nftables.Conn, name, token string) error {
	st, err := readTable(c, name, token)
	if err != nil {
		return err
	}
	if !st.Exists {
		return nil
	}
	if !st.mine() {
		return fmt.Errorf("%w: table inet %s has %d rule(s) without this fault's marker", ErrForeignTable, name, st.Foreign)
	}
	c.DelTable(table(name))
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete table %s: %w", name, err)
	}
	return nil
}
