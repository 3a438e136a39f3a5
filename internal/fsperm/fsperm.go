// Package fsperm checks that a file or directory chaosctl executes or
// loads cannot be rewritten by someone else: ssh's StrictModes rule.
package fsperm

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Check refuses p when its group or others may write it, or when it is
// owned by anyone but root or the user chaosctl runs as. A path that does
// not exist passes: whoever needs it reports that.
func Check(p string) error {
	st, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := int(sys.Uid); uid != 0 && uid != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, not by root or the user chaosctl runs as", p, uid)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by its group or others (mode %s): chmod go-w it", p, st.Mode().Perm())
	}
	return nil
}
