package dockerengine

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestMapPath: a volume's source when chaosctl can see it; the
// container's own view through /proc/PID/root when it cannot (chaosctl
// in a container of its own, the node agent); the writable layer of a
// stopped container.
func TestMapPath(t *testing.T) {
	src := t.TempDir()
	gone := filepath.Join(t.TempDir(), "not-here")
	other := t.TempDir() // exists here, but is not src
	pid := 4242
	root := fmt.Sprintf("/proc/%d/root", pid)
	for _, tc := range []struct {
		name     string
		c        Container
		path     string
		want     string
		wantVia  string
		wantFail bool
	}{
		{"visible volume", Container{Pid: pid, Mounts: []Mount{{Source: src, Destination: "/data"}}}, "/data/sub", filepath.Join(src, "sub"), ViaMount, false},
		{"longest mount wins", Container{Pid: pid, Mounts: []Mount{{Source: gone, Destination: "/"}, {Source: src, Destination: "/data"}}}, "/data", src, ViaMount, false},
		{"source out of sight, running", Container{Pid: pid, Mounts: []Mount{{Source: gone, Destination: "/data"}}}, "/data", root + "/data", ViaMountRoot, false},
		{"a directory of the same name here is another one", Container{Pid: os.Getpid(), Mounts: []Mount{{Source: src, Destination: other}}}, other, fmt.Sprintf("/proc/%d/root%s", os.Getpid(), other), ViaMountRoot, false},
		{"the same directory both ways", Container{Pid: os.Getpid(), Mounts: []Mount{{Source: src, Destination: src}}}, src, src, ViaMount, false},
		{"source out of sight, stopped", Container{Mounts: []Mount{{Source: gone, Destination: "/data"}}}, "/data", gone, ViaMount, false},
		{"no mount", Container{Pid: pid}, "/var/lib", root + "/var/lib", ViaRootfs, false},
		{"stopped, no mount", Container{UpperDir: src}, "/x", filepath.Join(src, "x"), ViaRootfs, false},
		{"stopped, nothing reachable", Container{Name: "c"}, "/x", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, via, err := MapPath(tc.c, tc.path)
			if tc.wantFail {
				if err == nil {
					t.Fatalf("got %s %s, want an error", got, via)
				}
				return
			}
			if err != nil || got != tc.want || via != tc.wantVia {
				t.Fatalf("MapPath = %s %s %v, want %s %s", got, via, err, tc.want, tc.wantVia)
			}
		})
	}
}
