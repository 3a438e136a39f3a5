package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/internal/ui"
)

// ErrNotLoopback: the dashboard listens on loopback only (it is a way in
// to the daemon's socket for a browser on this machine).
var ErrNotLoopback = errors.New("not a loopback address")

func newUICmd(e *env) *cobra.Command {
	var listen string
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Open the game-day dashboard: a loopback web page in front of the daemon",
		Long: `ui serves the dashboard on a loopback HTTP listener in front of the daemon's
socket (a browser cannot speak to a unix socket) and prints a URL with a
one-time token. Opening it starts a session (an HttpOnly, SameSite=Strict
cookie) and leaves a URL without the token. The link works once, within
10 minutes; run chaosctl ui again for a new one. Ctrl-C stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			host, _, err := net.SplitHostPort(listen)
			if err != nil {
				return withCode(ExitInvalid, fmt.Errorf("--listen %q: %w", listen, err))
			}
			if !api.Loopback(host) {
				return withCode(ExitInvalid, fmt.Errorf("--listen %q: %w", listen, ErrNotLoopback))
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			if err := c.Ping(cmd.Context()); err != nil {
				return apiErr(err)
			}
			h, err := ui.New(ui.Options{API: c, Log: e.log})
			if err != nil {
				return withCode(ExitError, err)
			}
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return withCode(ExitError, fmt.Errorf("--listen: %w", err))
			}
			return serveUI(cmd.Context(), e, h, l, c.Where())
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "loopback address to serve the dashboard on (port 0: any free port)")
	addClientFlags(cmd, &cf)
	return cmd
}

// serveUI serves h on l until ctx ends.
func serveUI(ctx context.Context, e *env, h *ui.Handler, l net.Listener, daemonAt string) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	base := "http://" + l.Addr().String()
	fmt.Fprintf(e.stdout, "dashboard for the daemon at %s on %s\nopen %s\n(the link works once, within %s; run `chaosctl ui` again for a new one)\n",
		daemonAt, base, h.LoginURL(base), ui.LoginTokenTTL)
	select {
	case err := <-done:
		return withCode(ExitError, fmt.Errorf("dashboard: %w", err))
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close() // event streams still open
	}
	return nil
}
