// Package lifeline starts child processes that must die with chaosctl.
//
// Linux sends a child's Pdeathsig when the *thread* that forked it exits,
// not the process. Go may retire an OS thread (when a goroutine locked to
// it ends), which would kill a plugin or a stress worker in the middle of a
// fault. Do runs the start on one thread, locked for the life of the
// process, that never exits.
package lifeline

import (
	"runtime"
	"sync"
)

var (
	once  sync.Once
	calls chan func()
)

// Do runs start on the lifeline thread and returns when it has.
func Do(start func()) {
	once.Do(func() {
		calls = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for f := range calls {
				f()
			}
		}()
	})
	done := make(chan struct{})
	calls <- func() {
		defer close(done)
		start()
	}
	<-done
}
