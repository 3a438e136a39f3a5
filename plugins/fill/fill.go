// Package fill is the mechanics every fault that fills a filesystem shares
// (the disk plugin; the docker and kubernetes plugins' fill of a
// container's path, ContainerFile): how much a fill needs, allocating it
// for real, and the refusal to fill the filesystems chaosctl itself lives
// on. No plugin imports another for it.
package fill

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/shirou/gopsutil/v3/disk"
	"golang.org/x/sys/unix"
)

// Need is how many bytes bring u to pct used, as df and gopsutil count it
// (used / (used + available)).
func Need(u *disk.UsageStat, pct float64) int64 {
	return int64(math.Ceil(pct/100*float64(u.Used+u.Free))) - int64(u.Used)
}

// Allocate makes fh take n bytes: fallocate, or writing zeros where the
// filesystem does not support it (method "auto"); "fallocate" or "write"
// force one way.
func Allocate(ctx context.Context, fh *os.File, n int64, method string) error {
	if method != "write" {
		err := unix.Fallocate(int(fh.Fd()), 0, 0, n)
		if err == nil || method == "fallocate" || !errors.Is(err, unix.EOPNOTSUPP) {
			return err
		}
	}
	buf := make([]byte, 1<<20)
	for done := int64(0); done < n; {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := min(int64(len(buf)), n-done)
		w, err := fh.Write(buf[:chunk])
		done += int64(w)
		if err != nil {
			return err
		}
	}
	return fh.Sync()
}

// Goal is how much to write: Bytes exactly, or until the filesystem is
// Percent used.
type Goal struct {
	Bytes   int64
	Percent float64
}

// To creates file and makes it take the space goal asks for, counted
// and allocated as the disk plugin does (df's used %, fallocate or zeros);
// it returns the bytes taken. On an error the file is left for the revert
// to remove.
func To(ctx context.Context, file string, goal Goal) (int64, error) {
	want := goal.Bytes
	if want == 0 {
		u, err := disk.UsageWithContext(ctx, filepath.Dir(file))
		if err != nil {
			return 0, fmt.Errorf("measure %s: %w", filepath.Dir(file), err)
		}
		if want = Need(u, goal.Percent); want <= 0 {
			return 0, nil // already that full
		}
		want = min(want, int64(u.Free))
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := Allocate(ctx, f, want, "auto"); err != nil {
		return 0, fmt.Errorf("allocate %d bytes: %w", want, err)
	}
	return want, nil
}
