package network

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/chaosctl/chaosctl/plugins"
)

// Loss modes.
const (
	ModeAuto     = "auto"
	ModeNetem    = "netem"
	ModeNftables = "nftables"
)

// Sentinels of what this process or kernel lacks.
var (
	ErrNoCapNetAdmin = errors.New("CAP_NET_ADMIN missing")
	ErrNoNetem       = errors.New("netem unavailable")
	ErrNoTbf         = errors.New("tbf unavailable")
)

// capNetAdmin is CAP_NET_ADMIN's bit in the capability sets.
const capNetAdmin = 12

// effectiveCaps reads CapEff of this process.
func effectiveCaps() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	return parseCapEff(string(b))
}

func parseCapEff(status string) (uint64, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff line in /proc/self/status")
}

func (f *Fault) checkCap() error {
	read := f.capEff
	if read == nil {
		read = effectiveCaps
	}
	caps, err := read()
	if err != nil {
		return fmt.Errorf("%w: cannot read this process's capabilities: %w", ErrNoCapNetAdmin, err)
	}
	if caps&(1<<capNetAdmin) == 0 {
		return fmt.Errorf("%w: chaosctl needs CAP_NET_ADMIN to change a network namespace's rules and qdiscs (run as root, or grant it: setcap cap_net_admin,cap_sys_admin+ep)", ErrNoCapNetAdmin)
	}
	return nil
}

// kernel is what this kernel can do, each nil when it can.
type kernel struct {
	Nftables error // nf_tables itself
	Numgen   error // the random-number match loss needs
	Tbf      error
	Netem    error
}

// support probes the kernel once per Fault, in a throwaway network
// namespace, so nothing the machine uses is touched.
type support struct {
	once sync.Once
	k    kernel
	// probe replaces the real probe (tests).
	probe func() kernel
}

func (s *support) get() kernel {
	s.once.Do(func() {
		if s.probe != nil {
			s.k = s.probe()
			return
		}
		s.k = probeKernel()
	})
	return s.k
}

// probeKernel adds, in a scratch namespace, what each action would add.
func probeKernel() kernel {
	scratch, err := scratchNetns()
	if err != nil {
		err = fmt.Errorf("cannot make a scratch network namespace to test the kernel: %w", err)
		return kernel{Nftables: fmt.Errorf("%w: %w", ErrNoNftables, err), Numgen: err, Tbf: fmt.Errorf("%w: %w", ErrNoTbf, err), Netem: fmt.Errorf("%w: %w", ErrNoNetem, err)}
	}
	defer scratch.Close()
	var k kernel
	k.Nftables, k.Numgen = probeNftables(int(scratch))
	h, err := netlink.NewHandleAt(scratch)
	if err != nil {
		k.Tbf = fmt.Errorf("%w: rtnetlink in a scratch namespace: %w", ErrNoTbf, err)
		k.Netem = fmt.Errorf("%w: rtnetlink in a scratch namespace: %w", ErrNoNetem, err)
		return k
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		k.Tbf, k.Netem = fmt.Errorf("%w: %w", ErrNoTbf, err), fmt.Errorf("%w: %w", ErrNoNetem, err)
		return k
	}
	if err := h.QdiscAdd(tbfQdisc(lo.Attrs().Index, TbfHandle, tbfSpec{Rate: 125000, Burst: 16384, Limit: 32768})); err != nil {
		k.Tbf = fmt.Errorf("%w: this kernel cannot add a tbf qdisc (module sch_tbf): %w", ErrNoTbf, err)
	} else {
		_ = h.QdiscDel(tbfQdisc(lo.Attrs().Index, TbfHandle, tbfSpec{}))
	}
	if err := h.QdiscAdd(netemQdisc(lo.Attrs().Index, NetemHandle, 1)); err != nil {
		k.Netem = fmt.Errorf("%w: this kernel has no sch_netem module (%w); loss uses mode = \"nftables\"", ErrNoNetem, err)
	}
	return k
}

// scratchNetns makes a new, empty network namespace and returns a handle
// to it; the calling thread is put back where it was before it is
// unlocked (a thread that cannot go back stays locked and dies with its
// goroutine).
func scratchNetns() (netns.NsHandle, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return 0, err
	}
	defer orig.Close()
	scratch, err := netns.New()
	if err != nil {
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		return 0, err
	}
	if err := netns.Set(orig); err != nil {
		scratch.Close()
		return 0, err // thread stays locked: it is in the wrong namespace
	}
	runtime.UnlockOSThread()
	return scratch, nil
}

func probeNftables(fd int) (nft, numgen error) {
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoNftables, err), err
	}
	if _, err := c.ListTables(); err != nil {
		err = fmt.Errorf("%w: this kernel has no nf_tables (module nf_tables): %w", ErrNoNftables, err)
		return err, err
	}
	rules := []Rule{{Chain: chainIn, Percent: 50, Verdict: Drop}, {Chain: chainOut, Proto: unix.IPPROTO_TCP, Port: 1, PortDst: true, Verdict: Reject}}
	if err := createTable(c, "chaosctl_probe", "probe", rules); err != nil {
		return nil, fmt.Errorf("%w: nf_tables cannot do the random-number match loss needs (module nft_numgen) or reject: %w", ErrNoNftables, err)
	}
	return nil, nil // the namespace and the table go with the handle
}

// lossMode decides how loss is done. k is the kernel's abilities.
func lossMode(p plugins.Params, k kernel) (string, error) {
	m := str(p, "mode", ModeAuto)
	d, _ := direction(p, Both)
	filtered := p["cidrs"] != nil || p["ports"] != nil
	switch m {
	case ModeAuto:
		if k.Netem == nil && d == Egress && !filtered {
			return ModeNetem, nil
		}
		return ModeNftables, nil
	case ModeNetem:
		if d != Egress || filtered {
			return "", fieldError("params.mode", "netem drops egress on one device only: set direction = \"egress\" and no cidrs or ports, or use mode = \"nftables\"")
		}
		if k.Netem != nil {
			return "", fmt.Errorf("params.mode: %w", k.Netem)
		}
		return ModeNetem, nil
	case ModeNftables:
		return ModeNftables, nil
	}
	return "", fieldError("params.mode", fmt.Sprintf("%q: want auto, netem or nftables", m))
}

func mustMode(p plugins.Params, k kernel) string {
	m, err := lossMode(p, k)
	if err != nil {
		return ModeNftables
	}
	return m
}
