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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// SIGHUP is the command's to interpret: a run aborts and reverts (its
	// terminal went away), the daemon reloads and never stops.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr, cli.WithHangup(hup))
	stop()
	os.Exit(code)
}
