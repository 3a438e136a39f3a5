package plugins

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// ProtectedPathsEnv names the environment variable that tells plugins
// which directories are chaosctl's own (the daemon's store, the ledgers,
// the journals), joined with os.PathListSeparator. Plugins run as child
// processes and inherit it; a fault that could destroy what chaosctl needs
// to revert and report (a disk fill) refuses their filesystems.
const ProtectedPathsEnv = "CHAOSCTL_PROTECTED_PATHS"

var protectMu sync.Mutex

// ProtectPaths adds paths, made absolute, to ProtectedPathsEnv in this
// process's environment, keeping each once, so that plugins started
// afterwards inherit them. Empty paths are skipped.
func ProtectPaths(paths ...string) {
	protectMu.Lock()
	defer protectMu.Unlock()
	list := ProtectedPaths()
	for _, p := range paths {
		if p == "" {
			continue
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		p = filepath.Clean(p)
		if !slices.Contains(list, p) {
			list = append(list, p)
		}
	}
	// Setenv fails only on a malformed name, and this one is a constant.
	_ = os.Setenv(ProtectedPathsEnv, strings.Join(list, string(os.PathListSeparator)))
}

// ProtectedPaths is the list in ProtectedPathsEnv.
func ProtectedPaths() []string {
	var out []string
	for _, p := range filepath.SplitList(os.Getenv(ProtectedPathsEnv)) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
