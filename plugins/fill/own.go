package fill

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/chaosctl/chaosctl/plugins"
)

// AllowOwnFilesystem is the fill parameter that lets a fill take the
// filesystem of / or of chaosctl's own directories.
const AllowOwnFilesystem = "allow_own_filesystem"

// AllowOwnParam is its schema, shared by every fill action.
var AllowOwnParam = plugins.Param{
	Name: AllowOwnFilesystem, Type: plugins.TypeBool, Default: false,
	Doc: "fill even the filesystem of / or of chaosctl's store, ledgers and journals",
}

// RefuseOwnFilesystem refuses to fill dir when it is on the filesystem of
// one of chaosctl's directories (plugins.ProtectedPaths) or of /, unless
// params allow it: a full disk there stops the daemon or the run from
// recording and reverting its faults. Filesystems are compared by device
// id, so any directory of such a filesystem is refused. The refusal is a
// *plugins.ValidationError on field; an error reading dir is returned as is.
func RefuseOwnFilesystem(dir string, params plugins.Params, field string) error {
	if allow, _ := params[AllowOwnFilesystem].(bool); allow {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return &fs.PathError{Op: "stat", Path: dir, Err: err}
	}
	for _, p := range append(plugins.ProtectedPaths(), "/") {
		dev, err := deviceOf(p)
		if err != nil || dev != st.Dev {
			continue // a protected path we cannot stat is on no filesystem we can compare
		}
		what := "the filesystem of " + p + ", which holds chaosctl's store, ledgers or journals"
		if p == "/" {
			what = "the root filesystem"
		}
		return &plugins.ValidationError{Field: field, Msg: fmt.Sprintf(
			"%s is on %s (%s): refusing to fill it; allow_own_filesystem = true overrides", dir, what, describeDevice(st.Dev))}
	}
	return nil
}

// deviceOf is the device of the filesystem holding p, or, while p does not
// exist yet (a journal directory made at the first run), of its nearest
// existing parent, where it will be made.
func deviceOf(p string) (uint64, error) {
	for {
		var st unix.Stat_t
		err := unix.Stat(p, &st)
		if err == nil {
			return st.Dev, nil
		}
		parent := filepath.Dir(p)
		if !errors.Is(err, unix.ENOENT) || parent == p {
			return 0, err
		}
		p = parent
	}
}

// describeDevice names a filesystem by its device and, where
// /proc/self/mountinfo tells, its mount point and type.
func describeDevice(dev uint64) string {
	id := fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev))
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "device " + id
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || fields[2] != id || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		return fmt.Sprintf("%s filesystem mounted at %s, device %s", fields[sep+1], unescapeMount(fields[4]), id)
	}
	return "device " + id
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}
