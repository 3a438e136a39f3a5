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
	code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
