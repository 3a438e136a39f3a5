package dockerengine

import (
	"bytes"
	"fmt"
	"os"
)

// OwnPid checks that c's init pid, as the Engine reports it (a host pid),
// is that container's process as seen from here: chaosctl running in a
// pid namespace of its own would otherwise signal, fill or delay an
// unrelated process that happens to have the same number.
func OwnPid(c Container) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", c.Pid))
	if err != nil {
		b = nil
	}
	return OwnCgroups(c, b)
}

// OwnCgroups is OwnPid on the content of /proc/PID/cgroup, read by the
// caller: c's id must be in it.
func OwnCgroups(c Container, procCgroup []byte) error {
	if !bytes.Contains(procCgroup, []byte(c.ID)) {
		return fmt.Errorf("pid %d is not container %s's process as seen from here: run chaosctl in the host's pid namespace (docker run --pid=host) to act on containers through their pids", c.Pid, c.Name)
	}
	return nil
}
