// Command chaosctl replays post-mortems as chaos experiments.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/chaosctl/chaosctl/internal/cli"
)

func main() {
	// SIGHUP too: a terminal that goes away must not end a run before its
	// faults are reverted.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
