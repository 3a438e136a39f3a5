package latency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
)

// Handle is the qdisc handle chaosctl reserves for its netem root qdisc
// ("c4a5:"). Revert deletes a root qdisc only when it has this handle.
const Handle = "c4a5:"

// ErrNetemUnavailable: the kernel cannot do netem (no sch_netem).
var ErrNetemUnavailable = errors.New("netem unavailable")

// ErrForeignQdisc: the device already has a root qdisc chaosctl did not create.
var ErrForeignQdisc = errors.New("refusing to replace a root qdisc chaosctl did not create")

// NetemSpec is what netem applies to a device's egress.
type NetemSpec struct {
	Delay   time.Duration
	Jitter  time.Duration
	Loss    float64 // percent
	Corrupt float64 // percent
	Rate    string  // tc rate, e.g. "1mbit"
}

// Args is the tc command line that adds the qdisc to dev.
func (s NetemSpec) Args(dev string) []string {
	a := []string{"qdisc", "add", "dev", dev, "root", "handle", Handle, "netem"}
	if s.Delay > 0 || s.Jitter > 0 {
		a = append(a, "delay", tcTime(s.Delay))
		if s.Jitter > 0 {
			a = append(a, tcTime(s.Jitter))
		}
	}
	if s.Loss > 0 {
		a = append(a, "loss", tcPercent(s.Loss))
	}
	if s.Corrupt > 0 {
		a = append(a, "corrupt", tcPercent(s.Corrupt))
	}
	if s.Rate != "" {
		a = append(a, "rate", s.Rate)
	}
	return a
}

func tcTime(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) + "us" }
func tcPercent(p float64) string    { return strconv.FormatFloat(p, 'f', -1, 64) + "%" }

// Check reports what is wrong with the spec, naming the parameter.
func (s NetemSpec) Check() []error {
	var errs []error
	bad := func(f, m string) { errs = append(errs, fieldError("params."+f, m)) }
	if s.Delay < 0 {
		bad("delay", "must not be negative")
	}
	if s.Jitter < 0 {
		bad("jitter", "must not be negative")
	}
	if s.Jitter > 0 && s.Delay == 0 {
		bad("jitter", "needs a delay")
	}
	if s.Jitter > s.Delay && s.Delay > 0 {
		bad("jitter", fmt.Sprintf("%s is larger than the delay %s", s.Jitter, s.Delay))
	}
	for name, v := range map[string]float64{"loss": s.Loss, "corrupt": s.Corrupt} {
		if v < 0 || v > 100 {
			bad(name, fmt.Sprintf("%g is not a percentage in [0, 100]", v))
		}
	}
	if s.Rate != "" {
		if _, err := plugins.ParseRate(s.Rate); err != nil {
			bad("rate", err.Error())
		}
	}
	if s.Delay == 0 && s.Loss == 0 && s.Corrupt == 0 && s.Rate == "" {
		bad("delay", "give at least one of delay, loss, corrupt, rate")
	}
	return errs
}

var (
	netemOnce   sync.Once
	netemReason error
)

// NetemSupport says whether this kernel can do netem. It tries once per
// process, when the plugin starts: add a netem qdisc to the loopback device
// of a throwaway network namespace (`unshare -n tc ...`), which touches
// nothing the machine uses.
func NetemSupport() error {
	netemOnce.Do(func() { netemReason = probeNetem() })
	return netemReason
}

func probeNetem() error {
	tc, err := exec.LookPath("tc")
	if err != nil {
		return fmt.Errorf("%w: tc (iproute2) is not installed", ErrNetemUnavailable)
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return fmt.Errorf("%w: cannot test for netem: unshare (util-linux) is not installed", ErrNetemUnavailable)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, unshare, "-n", tc, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if strings.Contains(msg, "unknown") || strings.Contains(msg, "No such file") {
			return fmt.Errorf("%w: this kernel has no sch_netem module (tc: %s); load it (modprobe sch_netem) or use mode = \"proxy\"", ErrNetemUnavailable, msg)
		}
		return fmt.Errorf("%w: cannot add a netem qdisc in a scratch namespace (%s: %v); run as root, or use mode = \"proxy\"", ErrNetemUnavailable, msg, err)
	}
	return nil
}

// netemData is the netem revert data: enough to find the qdisc again in a
// fresh process, and to know when its namespace is gone.
type netemData struct {
	ContainerID string `json:"container_id"`
	Name        string `json:"name"`
	Pid         int    `json:"pid"`
	NetNS       uint64 `json:"netns"` // inode of /proc/PID/ns/net at injection
	Device      string `json:"device"`
	Handle      string `json:"handle"`
}

func netnsInode(pid int) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// tcIn runs tc in the network namespace of pid.
func tcIn(ctx context.Context, pid int, args ...string) (string, error) {
	full := append([]string{"--net=/proc/" + strconv.Itoa(pid) + "/ns/net", "tc"}, args...)
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "nsenter", full...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("tc %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// rootQdisc parses `tc qdisc show dev X` and returns the root qdisc's kind
// and handle ("noqueue", "0:").
func rootQdisc(show string) (kind, handle string) {
	f := strings.Fields(rootLine(show))
	if len(f) < 3 {
		return "", ""
	}
	return f[1], f[2]
}

// rootLine is the root qdisc's line of `tc qdisc show dev X`, "" when
// there is none.
func rootLine(show string) string {
	for _, line := range strings.Split(show, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "qdisc" && contains(f, "root") {
			return strings.Join(f, " ")
		}
	}
	return ""
}

// netemStatus reads the device's root qdisc in the container's network
// namespace: the fault holds while it has chaosctl's handle (the one
// revert deletes).
func netemStatus(ctx context.Context, d netemData) (plugins.Status, error) {
	where := fmt.Sprintf("%s of %s", d.Device, d.Name)
	ino, err := netnsInode(d.Pid)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) || (err == nil && ino != d.NetNS) {
		return plugins.Status{Detail: fmt.Sprintf("network namespace of %s is gone (pid %d exited: container stopped or restarted)", d.Name, d.Pid)}, nil
	}
	if err != nil {
		return plugins.Status{}, fmt.Errorf("netns of pid %d: %w", d.Pid, err)
	}
	show, err := tcIn(ctx, d.Pid, "qdisc", "show", "dev", d.Device)
	if err != nil {
		return plugins.Status{}, fmt.Errorf("qdisc of %s: %w", where, err)
	}
	line := rootLine(show)
	if _, h := rootQdisc(show); h == d.Handle {
		return plugins.Status{Active: true, Detail: fmt.Sprintf("chaosctl's root qdisc on %s: %s", where, strings.TrimPrefix(line, "qdisc "))}, nil
	}
	if line == "" {
		line = "none"
	}
	return plugins.Status{Detail: fmt.Sprintf("no chaosctl qdisc (%s) on %s; root qdisc: %s", d.Handle, where, strings.TrimPrefix(line, "qdisc "))}, nil
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// injectNetem adds chaosctl's netem root qdisc to dev in the namespace of
// pid, refusing when a root qdisc someone configured is there.
func injectNetem(ctx context.Context, pid int, dev string, spec NetemSpec) error {
	show, err := tcIn(ctx, pid, "qdisc", "show", "dev", dev)
	if err != nil {
		return err
	}
	kind, handle := rootQdisc(show)
	switch {
	case handle == Handle:
		return fmt.Errorf("%w: %s already has chaosctl's netem (%s): another fault is active", ErrForeignQdisc, dev, Handle)
	case handle != "" && handle != "0:":
		return fmt.Errorf("%w: %s has root qdisc %s %s", ErrForeignQdisc, dev, kind, handle)
	}
	_, err = tcIn(ctx, pid, spec.Args(dev)...)
	return err
}

// revertNetem deletes chaosctl's root qdisc, and nothing else. A namespace
// that is gone (the container stopped or restarted) needs nothing.
func revertNetem(ctx context.Context, d netemData) error {
	ino, err := netnsInode(d.Pid)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) || (err == nil && ino != d.NetNS) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("netns of pid %d: %w", d.Pid, err)
	}
	show, err := tcIn(ctx, d.Pid, "qdisc", "show", "dev", d.Device)
	if err != nil {
		return err
	}
	if _, h := rootQdisc(show); h != d.Handle {
		return nil // already gone (or replaced by someone else: not ours to delete)
	}
	_, err = tcIn(ctx, d.Pid, "qdisc", "del", "dev", d.Device, "root", "handle", d.Handle)
	return err
}
