package plugins

import (
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Signals are the signals a fault may send, one table for every plugin
// that sends one (process, docker): a kill, a graceful stop, a crash.
var Signals = []string{"SIGKILL", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGABRT", "SIGSEGV", "SIGUSR1", "SIGUSR2"}

// SignalParam is the schema of an action's "signal" parameter.
var SignalParam = Param{
	Name: "signal", Type: TypeString, Default: "SIGKILL",
	Doc: "signal to send (" + strings.Join(Signals, ", ") + "; case and the SIG prefix are optional)",
}

// ParseSignal reads a signal parameter ("kill", "SIGTERM"; empty is
// SIGKILL) as its name and number. A signal not in Signals is a
// *ValidationError on params.signal.
func ParseSignal(s string) (string, syscall.Signal, error) {
	if s == "" {
		s = "SIGKILL"
	}
	n := strings.ToUpper(s)
	if !strings.HasPrefix(n, "SIG") {
		n = "SIG" + n
	}
	for _, x := range Signals {
		if x == n {
			return n, unix.SignalNum(n), nil
		}
	}
	return "", 0, &ValidationError{Field: "params.signal", Msg: fmt.Sprintf("unsupported signal %q (one of %s)", s, strings.Join(Signals, ", "))}
}
