package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosctl/chaosctl/plugins/latency/tcpproxy"
)

// newProxyCmd is `chaosctl proxy`: a standing TCP fault proxy. Traffic
// must flow through it before an experiment (so steady state is measured
// through it too); the latency plugin's proxy mode then sets and removes
// toxics through its control address, HTTP/1.1 ones (http_abort,
// http_delay, http_header) included.
func newProxyCmd(e *env) *cobra.Command {
	var listen, upstream, control string
	cmd := &cobra.Command{
		Use:   "proxy --listen ADDR --upstream ADDR --control ADDR",
		Short: "Run a TCP proxy that the latency plugin's proxy mode can slow, shape, black-hole or reset, and fault HTTP through",
		Long: "Forwards --listen to --upstream (splice pass-through while no fault is set) and serves a control\n" +
			"API on --control (host:port or unix:/path) for `plugin = \"latency\"` faults with `target.proxy`.\n" +
			"While an HTTP fault (http_abort, http_delay, http_header) is set it parses HTTP/1.1; requests no\n" +
			"fault matches pass through byte for byte.\n" +
			"Runs until interrupted.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listen == "" || upstream == "" || control == "" {
				return withCode(ExitInvalid, errors.New("--listen, --upstream and --control are required"))
			}
			return runProxy(cmd.Context(), e, listen, upstream, control)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address clients connect to, e.g. 127.0.0.1:9000")
	cmd.Flags().StringVar(&upstream, "upstream", "", "address traffic is forwarded to, e.g. 10.0.0.5:5432")
	cmd.Flags().StringVar(&control, "control", "", "control API address: host:port (keep it on loopback) or unix:/path")
	return cmd
}

func runProxy(ctx context.Context, e *env, listen, upstream, control string) error {
	p := tcpproxy.New(listen, upstream)
	if err := p.Start(ctx); err != nil {
		return withCode(ExitError, err)
	}
	defer p.Close()
	ln, err := tcpproxy.ListenControl(ctx, control)
	if err != nil {
		return withCode(ExitError, fmt.Errorf("control listen: %w", err))
	}
	if path, ok := strings.CutPrefix(control, "unix:"); ok {
		defer os.Remove(path)
	}
	srv := &http.Server{Handler: tcpproxy.Handler(p), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	e.log.Info().Str("listen", p.Addr()).Str("upstream", upstream).Str("control", control).Msg("proxy running")
	fmt.Fprintf(e.stdout, "proxy %s -> %s, control %s\n", p.Addr(), upstream, control)
	select {
	case <-ctx.Done():
	case err := <-errc:
		return withCode(ExitError, fmt.Errorf("control API: %w", err))
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}
