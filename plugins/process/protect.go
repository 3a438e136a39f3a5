package process

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/chaosctl/chaosctl/plugins"
)

// pidLimit is the kernel's PID_MAX_LIMIT on 64-bit Linux: the largest
// pid_max can be, used when /proc/sys/kernel/pid_max cannot be read.
const pidLimit = 1 << 22

// pidMax is the largest process id this system hands out, plus one:
// /proc/sys/kernel/pid_max. No process has a pid at or above it.
func pidMax() int64 {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return pidLimit
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 2 {
		return pidLimit
	}
	return n
}

// checkPid refuses a pid no process can have here (it would otherwise be
// truncated to 32 bits and name another process).
func checkPid(pid int64) error {
	if pid < 2 {
		return &plugins.ValidationError{Field: "target.pid", Msg: fmt.Sprintf("must be at least 2, got %d", pid)}
	}
	if max := pidMax(); pid >= max {
		return &plugins.ValidationError{Field: "target.pid", Msg: fmt.Sprintf("%d is above this system's largest process id %d (/proc/sys/kernel/pid_max is %d)", pid, max-1, max)}
	}
	return nil
}

// protection says why chaosctl never targets pid ("" when it may).
type protection struct {
	ancestors map[int32]bool
	cgroup    cgroupSet // chaosctl's own cgroups: /proc/self/cgroup
}

func newProtection() protection {
	self, _ := os.ReadFile("/proc/self/cgroup")
	return protection{ancestors: ancestors(), cgroup: parseCgroup(self)}
}

func (p protection) why(pid int32) string {
	switch {
	case p.ancestors[pid]:
		return "chaosctl itself or one of its parents"
	case chaosctlHelper(pid):
		return "a chaosctl plugin or stress worker"
	}
	if sub := chaosctlService(pid); sub != "" {
		return "a chaosctl " + sub
	}
	other, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err == nil {
		if path := p.cgroup.shared(parseCgroup(other)); path != "" {
			return "in chaosctl's own cgroup " + path
		}
	}
	return ""
}

// chaosctlService says which long-running chaosctl command pid runs
// ("daemon" or "proxy"), from its argv: chaosctl's daemon holds the
// faults' ledger and a proxy carries the latency faults' traffic.
func chaosctlService(pid int32) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(argv) < 2 || filepath.Base(argv[0]) != "chaosctl" {
		return ""
	}
	if argv[1] == "daemon" || argv[1] == "proxy" {
		return argv[1]
	}
	return ""
}

// cgroupSet is a process's cgroup membership (/proc/PID/cgroup), keyed by
// hierarchy: "0" for cgroup v2, else the v1 controllers ("4:memory").
type cgroupSet map[string]string

func parseCgroup(b []byte) cgroupSet {
	out := cgroupSet{}
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		id, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		ctrl, path, ok := bytes.Cut(rest, []byte(":"))
		if !ok {
			continue
		}
		key := string(id) + ":" + string(ctrl)
		if len(ctrl) == 0 {
			key = "0"
		}
		out[key] = string(path)
	}
	return out
}

// identity is the hierarchies that say which service or container a
// process belongs to: cgroup v2's, and systemd's named v1 hierarchy.
// The other v1 controllers only account resources, and a runner may put
// every job in one (memory:/job-42) with all the processes it starts.
func (s cgroupSet) identity() []string {
	var keys []string
	for k := range s {
		if k == "0" || strings.HasSuffix(k, ":name=systemd") {
			keys = append(keys, k)
		}
	}
	return keys
}

// shared returns the cgroup path s (chaosctl's) and other have in common,
// "" when none: a service's or a container's cgroup. "/" is never one:
// in a container with its own cgroup namespace everything is at "/".
// Without an identity hierarchy (cgroup v1 without systemd) every
// hierarchy must match.
func (s cgroupSet) shared(other cgroupSet) string {
	keys := s.identity()
	if len(keys) > 0 {
		for _, k := range keys {
			if p := s[k]; p != "/" && p != "" && other[k] == p {
				return p
			}
		}
		return ""
	}
	if len(other) != len(s) {
		return ""
	}
	path := ""
	for _, k := range slices.Sorted(maps.Keys(s)) {
		p := s[k]
		if other[k] != p {
			return ""
		}
		if path == "" && p != "/" && p != "" {
			path = p
		}
	}
	return path
}
