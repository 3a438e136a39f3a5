// Package memlimit tunes the garbage collector of the long-running daemon.
// A daemon that runs for months on the hosts it tests must stay small: by
// default the collector aims at half the headroom Go's default gives it
// (GOGC=50) and works harder as the heap nears a soft limit of 48 MiB. The
// limit is soft: a daemon whose live data needs more uses more, it is never
// killed for it. GOGC and GOMEMLIMIT in the environment win.
package memlimit

import (
	"os"
	"runtime/debug"
)

// Defaults the daemon runs with.
const (
	SoftLimit = 48 << 20 // bytes
	GCPercent = 50
)

// Apply sets the defaults where the environment does not say otherwise.
func Apply() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(SoftLimit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}
