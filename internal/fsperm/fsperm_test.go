package fsperm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		mode os.FileMode
		dir  bool
		want string // "" passes
	}{
		{"owner-only file", 0o644, false, ""},
		{"owner-only dir", 0o755, true, ""},
		{"group-writable file", 0o664, false, "is writable by its group or others (mode -rw-rw-r--): chmod go-w it"},
		{"world-writable dir", 0o777, true, "is writable by its group or others (mode -rwxrwxrwx): chmod go-w it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			var err error
			if tc.dir {
				err = os.Mkdir(p, 0o700)
			} else {
				err = os.WriteFile(p, nil, 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tc.mode); err != nil { // whatever the umask
				t.Fatal(err)
			}
			err = Check(p)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || err.Error() != p+" "+tc.want):
				t.Fatalf("got %v, want %s %s", err, p, tc.want)
			}
		})
	}
	if err := Check(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("a missing path: %v", err)
	}
}

func TestCheckOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
	p := filepath.Join(t.TempDir(), "theirs")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if err := Check(p); err == nil || err.Error() != p+" is owned by uid 4242, not by root or the user chaosctl runs as" {
		t.Fatalf("got %v", err)
	}
}
