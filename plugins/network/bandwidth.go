package network

import (
	"context"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/chaosctl/chaosctl/plugins"
)

// The qdisc side of the plugin, over rtnetlink in the target's namespace
// (github.com/vishvananda/netlink opens its socket there, so no tc or
// nsenter binary is needed and no thread of ours changes namespace). Each
// kind has a reserved root handle, next to the latency plugin's c4a5:;
// revert deletes a root qdisc only when it has that handle.
const (
	TbfHandle   uint32 = 0xc4a6 << 16 // "c4a6:"
	NetemHandle uint32 = 0xc4a7 << 16 // "c4a7:"
)

// ErrForeignQdisc: the device has a root qdisc chaosctl did not create.
var ErrForeignQdisc = errors.New("refusing to replace a root qdisc chaosctl did not create")

var bandwidthAction = &action{
	Action: plugins.Action{
		Name: "bandwidth", Reversible: true, Selector: selector(),
		Doc: "cap the target's egress on one device with a tbf root qdisc (handle c4a6:) for the fault's duration",
		Params: []plugins.Param{
			{Name: "rate", Type: plugins.TypeString, Required: true, Doc: "the cap, tc syntax: \"1mbit\", \"500kbit\", \"2mbps\""},
			{Name: "burst", Type: plugins.TypeInt, Min: new(1.0), Doc: "bytes sent at line rate before the cap bites (default: 20ms of the rate, at least 8 KiB)"},
			{Name: "device", Type: plugins.TypeString, Default: "eth0", Doc: "interface in the target's namespace"},
		},
	},
	validate: func(p plugins.Params) []error {
		_, err := tbfParams(p)
		if err != nil {
			return []error{err}
		}
		return nil
	},
	plan: func(_ context.Context, _ *Fault, p plugins.Params, _ nsTarget, rd *revertData) (plan, error) {
		s, err := tbfParams(p)
		if err != nil {
			return plan{}, err
		}
		return plan{Qdisc: &qdiscSpec{Tbf: &s}, Summary: fmt.Sprintf("tbf rate %s burst %dB on %s", str(p, "rate", ""), s.Burst, rd.Qdisc.Device)}, nil
	},
}

// tbfSpec is a tbf's shape, in bytes.
type tbfSpec struct {
	Rate  uint64 // bytes per second
	Burst uint32
	Limit uint32 // bytes queued before drops
}

func tbfParams(p plugins.Params) (tbfSpec, error) {
	r, ok := p["rate"].(string)
	if !ok || r == "" {
		return tbfSpec{}, fieldError("params.rate", "required: a rate such as \"1mbit\"")
	}
	rate, err := plugins.ParseRate(r)
	if err != nil {
		return tbfSpec{}, fieldError("params.rate", err.Error())
	}
	burst := max(rate/50, 8192)
	if v, ok := p["burst"]; ok {
		b, ok := v.(int64)
		if !ok || b < 1 || b > 1<<30 {
			return tbfSpec{}, fieldError("params.burst", "want a number of bytes in [1, 1GiB]")
		}
		burst = b
	}
	// Queue 100ms of traffic beyond the burst, then drop: a cap, not a buffer.
	limit := burst + max(rate/10, 16384)
	return tbfSpec{Rate: uint64(rate), Burst: uint32(burst), Limit: uint32(min(limit, 1<<31))}, nil
}

// qdiscSpec is the qdisc one injection adds: a tbf, or a netem with loss.
type qdiscSpec struct {
	Tbf       *tbfSpec
	NetemLoss float64 // percent
}

// qdiscData is the qdisc part of revert data.
type qdiscData struct {
	Device string `json:"device"`
	Handle uint32 `json:"handle"`
	Kind   string `json:"kind"` // tbf, netem
}

func handleString(h uint32) string { return fmt.Sprintf("%x:", h>>16) }

func tbfQdisc(link int, handle uint32, s tbfSpec) *netlink.Tbf {
	return &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link, Handle: handle, Parent: netlink.HANDLE_ROOT},
		Rate:       s.Rate, Limit: s.Limit, Buffer: netlink.Xmittime(s.Rate, s.Burst),
	}
}

func netemQdisc(link int, handle uint32, loss float64) *netlink.Netem {
	return netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: link, Handle: handle, Parent: netlink.HANDLE_ROOT},
		netlink.NetemQdiscAttrs{Loss: float32(loss)})
}

// nsHandle opens rtnetlink in the namespace at ns.
func nsHandle(ns string) (*netlink.Handle, func(), error) {
	nh, err := netns.GetFromPath(ns)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", ns, err)
	}
	h, err := netlink.NewHandleAt(nh, unix.NETLINK_ROUTE)
	if err != nil {
		nh.Close()
		return nil, nil, fmt.Errorf("rtnetlink in %s: %w", ns, err)
	}
	return h, func() { h.Close(); nh.Close() }, nil
}

// rootQdisc is the device's root qdisc (nil: the default, handle 0).
func rootQdisc(h *netlink.Handle, dev string) (netlink.Link, netlink.Qdisc, error) {
	link, err := h.LinkByName(dev)
	if err != nil {
		return nil, nil, fmt.Errorf("params.device: no device %q in the target's namespace: %w", dev, err)
	}
	list, err := h.QdiscList(link)
	if err != nil {
		return nil, nil, fmt.Errorf("qdiscs of %s: %w", dev, err)
	}
	for _, q := range list {
		if q.Attrs().Parent == netlink.HANDLE_ROOT && q.Attrs().Handle != 0 {
			return link, q, nil
		}
	}
	return link, nil, nil
}

// addQdisc adds chaosctl's root qdisc, refusing when the device has a
// root qdisc someone configured (or one of chaosctl's: another fault).
func addQdisc(ns string, d qdiscData, s qdiscSpec) error {
	h, done, err := nsHandle(ns)
	if err != nil {
		return err
	}
	defer done()
	link, q, err := rootQdisc(h, d.Device)
	if err != nil {
		return err
	}
	if q != nil {
		return fmt.Errorf("%w: %s has root qdisc %s %s", ErrForeignQdisc, d.Device, q.Type(), handleString(q.Attrs().Handle))
	}
	var add netlink.Qdisc
	if s.Tbf != nil {
		add = tbfQdisc(link.Attrs().Index, d.Handle, *s.Tbf)
	} else {
		add = netemQdisc(link.Attrs().Index, d.Handle, s.NetemLoss)
	}
	if err := h.QdiscAdd(add); err != nil {
		return fmt.Errorf("add %s qdisc %s on %s: %w", d.Kind, handleString(d.Handle), d.Device, err)
	}
	return nil
}

// delQdisc deletes chaosctl's root qdisc, and nothing else.
func delQdisc(ns string, d qdiscData) error {
	h, done, err := nsHandle(ns)
	if err != nil {
		return err
	}
	defer done()
	_, q, err := rootQdisc(h, d.Device)
	if err != nil {
		if _, lerr := h.LinkByName(d.Device); lerr != nil {
			return nil // the device is gone, and its qdisc with it
		}
		return err
	}
	if q == nil || q.Attrs().Handle != d.Handle {
		return nil // gone already (or someone else's: not ours to delete)
	}
	if err := h.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete qdisc %s on %s: %w", handleString(d.Handle), d.Device, err)
	}
	return nil
}

// qdiscStatus reads the device's root qdisc: the fault holds while it has
// chaosctl's handle and kind.
func qdiscStatus(ns string, rd revertData) (plugins.Status, error) {
	d := *rd.Qdisc
	h, done, err := nsHandle(ns)
	if err != nil {
		return plugins.Status{}, err
	}
	defer done()
	_, q, err := rootQdisc(h, d.Device)
	if err != nil {
		return plugins.Status{}, err
	}
	where := fmt.Sprintf("%s of %s", d.Device, rd.Target)
	if q == nil {
		return plugins.Status{Detail: fmt.Sprintf("no chaosctl qdisc (%s) on %s; root qdisc: default", handleString(d.Handle), where)}, nil
	}
	if q.Attrs().Handle != d.Handle || q.Type() != d.Kind {
		return plugins.Status{Detail: fmt.Sprintf("no chaosctl qdisc (%s) on %s; root qdisc: %s %s", handleString(d.Handle), where, q.Type(), handleString(q.Attrs().Handle))}, nil
	}
	detail := fmt.Sprintf("chaosctl's root qdisc on %s: %s %s", where, q.Type(), handleString(q.Attrs().Handle))
	if t, ok := q.(*netlink.Tbf); ok {
		detail += fmt.Sprintf(" rate %dbit", t.Rate*8)
	}
	if n, ok := q.(*netlink.Netem); ok {
		detail += fmt.Sprintf(" loss %g%%", float64(n.Loss)*100/float64(^uint32(0)))
	}
	return plugins.Status{Active: true, Detail: detail}, nil
}
