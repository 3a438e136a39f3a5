// Package fill is the mechanics every fault that fills a filesystem shares
// (the disk plugin, the docker plugin's fill of a container's path): how
// much a fill needs, allocating it for real, and the refusal to fill the
// filesystems chaosctl itself lives on. No plugin imports another for it.
package fill

import (
	"context"
	"errors"
	"math"
	"os"

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
