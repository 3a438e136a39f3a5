package daemon

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestSocketNeverWiderThanItsMode runs listenUnix under umask 0 in a
// child process (the umask is the whole process's): the socket appears at
// its path only by a rename, already with its mode, and nothing is left
// beside it.
func TestSocketNeverWiderThanItsMode(t *testing.T) {
	if os.Getenv("CHAOSCTL_TEST_UMASK0") == "1" {
		socketUnderUmask0(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSocketNeverWiderThanItsMode$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "CHAOSCTL_TEST_UMASK0=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestSocketNeverWiderThanItsMode")) {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func socketUnderUmask0(t *testing.T) {
	unix.Umask(0)
	dir := t.TempDir()
	path := filepath.Join(dir, "chaosctl.sock")
	// A stale socket file from a dead daemon is replaced.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_ATTRIB); err != nil {
		t.Fatal(err)
	}
	l, err := listenUnix(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	var events []string
	buf := make([]byte, 64<<10)
	n, err := unix.Read(fd, buf)
	if err != nil {
		t.Fatalf("read inotify: %v", err)
	}
	for off := 0; off+unix.SizeofInotifyEvent <= n; {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
		var what []string
		for _, f := range []struct {
			bit  uint32
			name string
		}{{unix.IN_CREATE, "create"}, {unix.IN_MOVED_TO, "moved_to"}, {unix.IN_ATTRIB, "attrib"}, {unix.IN_ISDIR, "dir"}} {
			if ev.Mask&f.bit != 0 {
				what = append(what, f.name)
			}
		}
		events = append(events, strings.Join(what, "|")+" "+name)
		off += unix.SizeofInotifyEvent + int(ev.Len)
	}
	var atPath []string
	for _, e := range events {
		if strings.HasSuffix(e, " chaosctl.sock") {
			atPath = append(atPath, e)
		}
	}
	// What happened in the directory the clients see: a private directory
	// came and went; the socket arrived by rename, never created there.
	if len(atPath) != 1 || atPath[0] != "moved_to chaosctl.sock" {
		t.Errorf("events at the socket's path: %q (all: %q), want only its rename into place", atPath, events)
	}
	if len(events) < 2 || !strings.HasPrefix(events[0], "create|dir .chaosctl-") {
		t.Errorf("events %q: the socket was not made in a private directory first", events)
	}
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %s, want a socket with 0600 under umask 0", path, st.Mode())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("left beside the socket: %v", ents)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial the socket: %v", err)
	}
	c.Close()
}
