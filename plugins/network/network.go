// Package network is the "network" fault plugin: packet loss, cut links,
// DNS failure and a bandwidth cap, inside the target's network namespace (a
// container's, through /proc/PID/ns/net, a process's, or the host's).
//
// Loss, block and dns are nftables rules added over netlink (no nft binary):
// every object a fault adds lives in one table, chaosctl_<fault id>, whose
// rules carry the fault's marker, and revert deletes that table and nothing
// else. Bandwidth is a tbf root qdisc with chaosctl's handle (c4a6:), added
// over rtnetlink in the namespace. Loss can instead use netem (handle c4a7:)
// where the kernel has sch_netem.
package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/plugins"
)

// Fault implements the "network" plugin.
type Fault struct {
	engine  dockerengine.Lazy
	support support
	// capEff reads the effective capabilities (tests replace it).
	capEff func() (uint64, error)
}

var (
	_ plugins.Fault    = (*Fault)(nil)
	_ plugins.Preparer = (*Fault)(nil)
)

// New returns the network fault; it connects to the Docker Engine on first use.
func New() *Fault {
	return &Fault{engine: dockerengine.Lazy{Connect: dockerengine.Connect}, capEff: effectiveCaps}
}

// NewWithEngine returns the network fault on a given Engine (tests).
func NewWithEngine(e dockerengine.Engine) *Fault {
	return &Fault{engine: dockerengine.Lazy{Connect: func(context.Context) (dockerengine.Engine, error) { return e, nil }}, capEff: effectiveCaps}
}

// Close releases the Engine connection.
func (f *Fault) Close() error { return f.engine.Close() }

func (f *Fault) eng(ctx context.Context) (dockerengine.Engine, error) { return f.engine.Get(ctx) }

// action is one network action: its schema, its checks, and what it adds.
type action struct {
	plugins.Action
	validate func(p plugins.Params) []error
	// plan builds what Inject adds to the target's namespace.
	plan func(ctx context.Context, f *Fault, p plugins.Params, t nsTarget, rd *revertData) (plan, error)
}

// plan is what one injection adds: nft rules, or a qdisc.
type plan struct {
	Rules   []Rule
	Qdisc   *qdiscSpec
	Summary string // "drop 30% ingress"
}

var actions = []*action{lossAction, blockAction, dnsAction, bandwidthAction}

func lookup(name string) (*action, error) { return plugins.LookupAction(actions, name) }

func fieldError(field, msg string) error { return &plugins.ValidationError{Field: field, Msg: msg} }

// selector is the [fault.target] table: containers, a process, or the host.
func selector() []plugins.Param {
	return append(dockerengine.SelectorSchema(),
		plugins.Param{Name: "host", Type: plugins.TypeBool, Doc: "act in chaosctl's own network namespace (the host's)"},
		plugins.Param{Name: "pid", Type: plugins.TypeInt, Min: new(1.0), Doc: "act in the network namespace of this process"})
}

// Describe lists the actions.
func (*Fault) Describe(context.Context) (plugins.Descriptor, error) {
	d := plugins.Descriptor{
		Name: "network", Version: "1",
		Doc: "Packet loss, blocked peers, DNS failure and a bandwidth cap in the target's network namespace: nftables over netlink " +
			"(one table chaosctl_<id> per fault), tbf for bandwidth, netem for loss where the kernel has it. Needs CAP_NET_ADMIN.",
	}
	for _, a := range actions {
		d.Actions = append(d.Actions, a.Action)
	}
	return d, nil
}

// Validate checks parameters and selector without touching the machine.
func (*Fault) Validate(_ context.Context, name string, params, sel plugins.Params) error {
	a, err := lookup(name)
	if err != nil {
		return err
	}
	errs := checkSelector(sel)
	errs = append(errs, a.validate(params)...)
	return errors.Join(errs...)
}

func checkSelector(sel plugins.Params) []error {
	host, _ := sel["host"].(bool)
	_, pid := sel["pid"]
	n := 0
	for _, b := range []bool{host, pid, dockerengine.SelectsContainers(sel)} {
		if b {
			n++
		}
	}
	switch {
	case n == 0:
		return []error{fieldError("target", "give a container selector (name, labels, ...), pid, or host = true")}
	case n > 1:
		return []error{fieldError("target", "give only one of a container selector, pid, host")}
	case dockerengine.SelectsContainers(sel):
		return dockerengine.CheckSelector(sel)
	case pid:
		if p, ok := sel["pid"].(int64); !ok || p < 1 {
			return []error{fieldError("target.pid", "must be a process id >= 1")}
		}
	}
	return nil
}

// Targets resolves the selector. It is the preflight: no CAP_NET_ADMIN, no
// nf_tables, or netem asked for without it, fail here, before anything is
// injected.
func (f *Fault) Targets(ctx context.Context, name string, params, sel plugins.Params) ([]plugins.Target, error) {
	if _, err := lookup(name); err != nil {
		return nil, err
	}
	if err := f.preflight(name, params); err != nil {
		return nil, err
	}
	if host, _ := sel["host"].(bool); host {
		h, _ := os.Hostname()
		return []plugins.Target{{Kind: "host", ID: "host", Name: h}}, nil
	}
	if p, ok := sel["pid"].(int64); ok {
		if _, err := netnsInode(nsPathOf(int(p))); err != nil {
			return nil, fmt.Errorf("target.pid: network namespace of pid %d: %w", p, err)
		}
		return []plugins.Target{{Kind: "process", ID: strconv.FormatInt(p, 10)}}, nil
	}
	e, err := f.eng(ctx)
	if err != nil {
		return nil, err
	}
	return dockerengine.Targets(ctx, e, sel)
}

// preflight checks what the action needs of this process and kernel.
func (f *Fault) preflight(name string, params plugins.Params) error {
	if err := f.checkCap(); err != nil {
		return err
	}
	k := f.support.get()
	if name == "bandwidth" {
		return k.Tbf
	}
	if name == "loss" {
		m, err := lossMode(params, k)
		if err != nil || m == ModeNetem {
			return err
		}
	}
	if k.Nftables != nil {
		return k.Nftables
	}
	if name == "loss" {
		return k.Numgen
	}
	return nil
}

// nsTarget is the network namespace a fault acts in.
type nsTarget struct {
	Kind        string // container, process, host
	Name        string // for messages
	ContainerID string
	Pid         int // 0: chaosctl's own namespace
	NetNS       uint64
	Root        string // the target's root directory, for /etc/resolv.conf
}

func nsPathOf(pid int) string {
	if pid == 0 {
		return "/proc/self/ns/net"
	}
	return "/proc/" + strconv.Itoa(pid) + "/ns/net"
}

func netnsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// resolve finds the target's network namespace exactly.
func (f *Fault) resolve(ctx context.Context, t plugins.Target) (nsTarget, error) {
	switch t.Kind {
	case "host":
		ino, err := netnsInode(nsPathOf(0))
		if err != nil {
			return nsTarget{}, fmt.Errorf("own network namespace: %w", err)
		}
		return nsTarget{Kind: "host", Name: "host", NetNS: ino, Root: "/"}, nil
	case "process":
		pid, err := strconv.Atoi(t.ID)
		if err != nil || pid < 1 {
			return nsTarget{}, fieldError("target.pid", fmt.Sprintf("not a pid: %q", t.ID))
		}
		ino, err := netnsInode(nsPathOf(pid))
		if err != nil {
			return nsTarget{}, fmt.Errorf("target.pid: network namespace of pid %d: %w", pid, err)
		}
		return nsTarget{Kind: "process", Name: "pid " + t.ID, Pid: pid, NetNS: ino, Root: fmt.Sprintf("/proc/%d/root", pid)}, nil
	case "container":
	default:
		return nsTarget{}, fmt.Errorf("target kind %q: want container, process or host", t.Kind)
	}
	e, err := f.eng(ctx)
	if err != nil {
		return nsTarget{}, err
	}
	c, err := e.Inspect(ctx, t.ID)
	if err != nil {
		return nsTarget{}, fmt.Errorf("inspect %s: %w", t, err)
	}
	if !c.Running || c.Pid <= 0 {
		return nsTarget{}, fieldError("target", fmt.Sprintf("container %s is %s, not running", c.Name, c.State))
	}
	if err := dockerengine.OwnPid(c); err != nil {
		return nsTarget{}, err
	}
	ino, err := netnsInode(nsPathOf(c.Pid))
	if err != nil {
		return nsTarget{}, fmt.Errorf("network namespace of %s: %w", c.Name, err)
	}
	for _, p := range []string{"/proc/1/ns/net", nsPathOf(0)} {
		if host, err := netnsInode(p); err == nil && host == ino {
			return nsTarget{}, fieldError("target", fmt.Sprintf("container %s shares the host's network namespace: rules there would hit the host itself; say host = true if that is meant", c.Name))
		}
	}
	return nsTarget{Kind: "container", Name: c.Name, ContainerID: c.ID, Pid: c.Pid, NetNS: ino, Root: fmt.Sprintf("/proc/%d/root", c.Pid)}, nil
}

// revertData is one injection's undo record: enough for a fresh process
// to find the namespace, the table (or qdisc), and to know whether they
// are ours.
type revertData struct {
	Action      string     `json:"action"`
	Target      string     `json:"target"`
	ContainerID string     `json:"container_id,omitempty"`
	Pid         int        `json:"pid"`   // 0: chaosctl's own network namespace (host)
	NetNS       uint64     `json:"netns"` // inode of the namespace at injection
	Mode        string     `json:"mode,omitempty"`
	Table       string     `json:"table,omitempty"` // nft table, family inet
	Token       string     `json:"token,omitempty"` // marker in every rule's comment
	Rules       int        `json:"rules,omitempty"` // how many rules Inject added
	Summary     string     `json:"summary,omitempty"`
	Qdisc       *qdiscData `json:"qdisc,omitempty"`
}

// tableName derives a short, valid nft table name from the target and a
// random token: chaosctl_<target>_<token>.
func tableName(target, token string) string {
	s := strings.Trim(nonName.ReplaceAllString(strings.ToLower(target), "_"), "_")
	if len(s) > 16 {
		s = s[:16]
	}
	if s == "" {
		s = "t"
	}
	return "chaosctl_" + s + "_" + token
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

func newToken() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Prepare names what Inject will add before it adds anything: the
// namespace, the table name and marker, the qdisc handle. Reverting it
// when nothing was added removes nothing.
func (f *Fault) Prepare(ctx context.Context, req plugins.InjectRequest) ([]byte, error) {
	rd, err := f.prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(rd)
}

func (f *Fault) prepare(ctx context.Context, req plugins.InjectRequest) (revertData, error) {
	a, err := lookup(req.Action)
	if err != nil {
		return revertData{}, err
	}
	if errs := a.validate(req.Params); len(errs) > 0 {
		return revertData{}, errors.Join(errs...)
	}
	if err := f.preflight(req.Action, req.Params); err != nil {
		return revertData{}, err
	}
	t, err := f.resolve(ctx, req.Target)
	if err != nil {
		return revertData{}, err
	}
	token, err := newToken()
	if err != nil {
		return revertData{}, err
	}
	rd := revertData{Action: req.Action, Target: t.Name, ContainerID: t.ContainerID, Pid: t.Pid, NetNS: t.NetNS, Token: token}
	switch {
	case req.Action == "bandwidth":
		rd.Qdisc = &qdiscData{Device: str(req.Params, "device", "eth0"), Handle: TbfHandle, Kind: "tbf"}
	case req.Action == "loss" && mustMode(req.Params, f.support.get()) == ModeNetem:
		rd.Mode = ModeNetem
		rd.Qdisc = &qdiscData{Device: str(req.Params, "device", "eth0"), Handle: NetemHandle, Kind: "netem"}
	default:
		rd.Mode = ModeNftables
		rd.Table = tableName(t.Name, token)
	}
	return rd, nil
}

// Inject applies the fault to one target, as the prepared data says.
func (f *Fault) Inject(ctx context.Context, req plugins.InjectRequest) ([]byte, error) {
	a, err := lookup(req.Action)
	if err != nil {
		return nil, err
	}
	var rd revertData
	if len(req.Prepared) > 0 {
		if err := json.Unmarshal(req.Prepared, &rd); err != nil {
			return nil, fmt.Errorf("prepared revert data: %w", err)
		}
		if err := f.preflight(req.Action, req.Params); err != nil {
			return nil, err
		}
	} else if rd, err = f.prepare(ctx, req); err != nil {
		return nil, err
	}
	if ino, err := netnsInode(nsPathOf(rd.Pid)); err != nil || ino != rd.NetNS {
		return nil, fmt.Errorf("the network namespace of %s changed since it was selected (restarted?)", rd.Target)
	}
	t := nsTarget{Name: rd.Target, ContainerID: rd.ContainerID, Pid: rd.Pid, NetNS: rd.NetNS, Root: "/"}
	if rd.Pid != 0 {
		t.Root = fmt.Sprintf("/proc/%d/root", rd.Pid)
	}
	p, err := a.plan(ctx, f, req.Params, t, &rd)
	if err != nil {
		return nil, err
	}
	rd.Summary = p.Summary
	if p.Qdisc != nil {
		if err := addQdisc(nsPathOf(rd.Pid), *rd.Qdisc, *p.Qdisc); err != nil {
			return nil, fmt.Errorf("%s on %s: %w", req.Action, rd.Target, err)
		}
		return json.Marshal(rd)
	}
	rd.Rules = len(p.Rules)
	if err := applyRules(nsPathOf(rd.Pid), rd, p.Rules); err != nil {
		return nil, fmt.Errorf("%s on %s: %w", req.Action, rd.Target, err)
	}
	return json.Marshal(rd)
}

// applyRules creates the table and checks it reads back as ours; one that
// does not (a kernel that drops rule comments) is deleted again: it was
// created exclusively a moment ago, so it is ours, but we could not tell
// it from the target's later.
func applyRules(ns string, rd revertData, rules []Rule) error {
	c, closeConn, err := nsConn(ns)
	if err != nil {
		return err
	}
	defer closeConn()
	if err := createTable(c, rd.Table, rd.Token, rules); err != nil {
		return err
	}
	st, err := readTable(c, rd.Table, rd.Token)
	if err == nil && st.mine() && st.Ours == len(rules) {
		return nil
	}
	c.DelTable(table(rd.Table))
	derr := c.Flush()
	if err == nil {
		err = fmt.Errorf("%w: table %s reads back with %d of %d marked rules: cannot tell our rules from the target's, so nothing is left in place", ErrForeignTable, rd.Table, st.Ours, len(rules))
	}
	return errors.Join(err, derr)
}

// gone says whether the namespace the fault was injected in no longer
// exists (the container stopped or restarted): what was in it is gone too.
func gone(rd revertData) (bool, error) {
	ino, err := netnsInode(nsPathOf(rd.Pid))
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) || (err == nil && ino != rd.NetNS) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("network namespace of %s: %w", rd.Target, err)
	}
	return false, nil
}

// Revert removes what Inject added, and only that.
func (f *Fault) Revert(_ context.Context, _ string, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	var rd revertData
	if err := json.Unmarshal(data, &rd); err != nil {
		return fmt.Errorf("revert data: %w", err)
	}
	if g, err := gone(rd); g || err != nil {
		return err
	}
	ns := nsPathOf(rd.Pid)
	if rd.Qdisc != nil {
		if err := delQdisc(ns, *rd.Qdisc); err != nil {
			return fmt.Errorf("revert %s on %s: %w", rd.Action, rd.Target, err)
		}
	}
	if rd.Table != "" {
		c, closeConn, err := nsConn(ns)
		if err != nil {
			return err
		}
		defer closeConn()
		if err := deleteTable(c, rd.Table, rd.Token); err != nil {
			return fmt.Errorf("revert %s on %s: %w", rd.Action, rd.Target, err)
		}
	}
	return nil
}

// Status reads the real rules (or qdisc) back: Active iff our table holds
// all our rules, or the qdisc with our handle is the device's root.
func (f *Fault) Status(_ context.Context, _ string, data []byte) (plugins.Status, error) {
	var rd revertData
	if err := json.Unmarshal(data, &rd); err != nil {
		return plugins.Status{}, fmt.Errorf("revert data: %w", err)
	}
	if g, err := gone(rd); err != nil {
		return plugins.Status{}, err
	} else if g {
		return plugins.Status{Detail: fmt.Sprintf("network namespace of %s is gone (stopped or restarted)", rd.Target)}, nil
	}
	ns := nsPathOf(rd.Pid)
	if rd.Qdisc != nil {
		return qdiscStatus(ns, rd)
	}
	c, closeConn, err := nsConn(ns)
	if err != nil {
		return plugins.Status{}, err
	}
	defer closeConn()
	st, err := readTable(c, rd.Table, rd.Token)
	if err != nil {
		return plugins.Status{}, err
	}
	return tableStatus(rd, st), nil
}

func tableStatus(rd revertData, st tableState) plugins.Status {
	switch {
	case !st.Exists:
		return plugins.Status{Detail: fmt.Sprintf("no table %s in the network namespace of %s", rd.Table, rd.Target)}
	case !st.mine():
		return plugins.Status{Detail: fmt.Sprintf("table %s has %d rule(s) without this fault's marker: not ours", rd.Table, st.Foreign)}
	case st.Ours != rd.Rules:
		return plugins.Status{Detail: fmt.Sprintf("table %s: %d of %d rules left", rd.Table, st.Ours, rd.Rules)}
	}
	return plugins.Status{Active: true, Detail: fmt.Sprintf("table %s: %s (%d rules, %d packets matched)", rd.Table, rd.Summary, st.Ours, st.Packets)}
}

func str(p plugins.Params, k, def string) string {
	if v, ok := p[k].(string); ok && v != "" {
		return v
	}
	return def
}

// strings of a []string parameter (TOML gives []any).
func strList(p plugins.Params, k string) ([]string, error) {
	switch v := p[k].(type) {
	case nil:
		return nil, nil
	case []string:
		return v, nil
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, fieldError("params."+k, fmt.Sprintf("element %d: want a string, got %v", i, x))
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fieldError("params."+k, "want a list of strings")
}

// Match is the optional filter of loss and block: peers and ports.
type Match struct {
	CIDRs []*net.IPNet
	Ports []uint16
}

// parseMatch reads cidrs and ports; errors name the field and the value.
func parseMatch(p plugins.Params) (Match, []error) {
	var m Match
	var errs []error
	cidrs, err := strList(p, "cidrs")
	if err != nil {
		errs = append(errs, err)
	}
	for _, s := range cidrs {
		n, err := parseCIDR(s)
		if err != nil {
			errs = append(errs, fieldError("params.cidrs", err.Error()))
			continue
		}
		m.CIDRs = append(m.CIDRs, n)
	}
	ports, err := strList(p, "ports")
	if err != nil {
		errs = append(errs, err)
	}
	for _, s := range ports {
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
		if err != nil || n == 0 {
			errs = append(errs, fieldError("params.ports", fmt.Sprintf("%q is not a port in [1, 65535]", s)))
			continue
		}
		m.Ports = append(m.Ports, uint16(n))
	}
	return m, errs
}

// parseCIDR reads a CIDR or a bare address (a /32 or /128).
func parseCIDR(s string) (*net.IPNet, error) {
	s = strings.TrimSpace(s)
	if ip := net.ParseIP(s); ip != nil {
		bits := 128
		if ip4 := ip.To4(); ip4 != nil {
			ip, bits = ip4, 32
		}
		return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, nil
	}
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a CIDR or an IP address", s)
	}
	return n, nil
}

// rules expands a match to rules on the chains of dir: one per peer, per
// protocol and port side (a port matches either end, so both a service
// on that port and a client of one are hit).
func (m Match) rules(dir Direction, base Rule) []Rule {
	peers := m.CIDRs
	if len(peers) == 0 {
		peers = []*net.IPNet{nil}
	}
	var out []Rule
	for _, ch := range dir.chains() {
		for _, peer := range peers {
			r := base
			r.Chain, r.Peer = ch, peer
			if len(m.Ports) == 0 {
				out = append(out, r)
				continue
			}
			for _, proto := range []byte{6, 17} {
				for _, port := range m.Ports {
					for _, dst := range []bool{true, false} {
						pr := r
						pr.Proto, pr.Port, pr.PortDst = proto, port, dst
						out = append(out, pr)
					}
				}
			}
		}
	}
	return out
}

// String says what the match covers, for the summary.
func (m Match) String() string {
	var b []string
	if len(m.CIDRs) > 0 {
		s := make([]string, len(m.CIDRs))
		for i, n := range m.CIDRs {
			s[i] = n.String()
		}
		b = append(b, "to/from "+strings.Join(s, ", "))
	}
	if len(m.Ports) > 0 {
		s := make([]string, len(m.Ports))
		for i, p := range m.Ports {
			s[i] = strconv.Itoa(int(p))
		}
		b = append(b, "port "+strings.Join(s, ", "))
	}
	return strings.Join(b, " ")
}

func direction(p plugins.Params, def Direction) (Direction, error) {
	d := Direction(str(p, "direction", string(def)))
	switch d {
	case Ingress, Egress, Both:
		return d, nil
	}
	return "", fieldError("params.direction", fmt.Sprintf("%q: want ingress, egress or both", d))
}

var directionParam = plugins.Param{Name: "direction", Type: plugins.TypeString, Default: string(Both), Enum: []string{string(Ingress), string(Egress), string(Both)},
	Doc: "traffic the target receives (ingress), sends (egress) or both"}
var cidrsParam = plugins.Param{Name: "cidrs", Type: plugins.TypeStrings, Doc: "only traffic to or from these peers (CIDRs or addresses); default all"}
var portsParam = plugins.Param{Name: "ports", Type: plugins.TypeStrings, Doc: "only TCP/UDP traffic with this port at either end, e.g. [\"5432\"]; default all"}
