package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/chaosctl/chaosctl/daemon"
	"github.com/chaosctl/chaosctl/internal/memlimit"
	"github.com/chaosctl/chaosctl/plugins/builtin"
	"github.com/chaosctl/chaosctl/plugins/host"
)

func newDaemonCmd(e *env) *cobra.Command {
	var config string
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run scenarios on their schedules and serve the API",
		Long: `daemon loads every *.toml scenario in its scenario directories, runs them on
their cron schedules, and serves the API that list, status, abort, history,
halt, resume and run use. Every run is kept in its store; every fault is
recorded before it is injected, and a fault left active by a daemon that died
is reverted when the daemon starts again.

Without --config it runs with built-in defaults (see "chaosctl daemon --help"
in README.md). SIGHUP reloads the config file and the scenarios and never
stops the daemon (changes that need a restart are named in the log);
SIGTERM or SIGINT aborts every run, reverts its faults and exits 0.`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{onHangup: onHangupReload},
		RunE: func(cmd *cobra.Command, _ []string) error {
			memlimit.Apply()
			cfg, err := daemon.LoadConfig(config)
			if err != nil {
				return withCode(ExitInvalid, err)
			}
			lvl, _ := zerolog.ParseLevel(cfg.LogLevel)
			if e.logLevelSet {
				lvl, _ = zerolog.ParseLevel(e.logLevel)
			}
			// A service logs JSON lines, whatever the terminal.
			log := zerolog.New(e.stderr).Level(lvl).With().Timestamp().Logger()
			ctx := cmd.Context()
			// Every fault plugin runs in its own child process, as with `run`;
			// crashes of those processes are counted in the daemon's metrics.
			var running atomic.Pointer[daemon.Daemon]
			sums := cfg.PluginChecksums
			if sums == "" {
				sums = filepath.Join(cfg.PluginDir, "SHA256SUMS")
			}
			cat := host.New(host.Config{
				Log: log, Builtins: builtin.Names(), Dir: cfg.PluginDir, Checksums: sums,
				RevertTimeout: cfg.Defaults.RevertTimeout.Duration,
				OnCrash: func(plugin string) {
					if d := running.Load(); d != nil {
						d.Metrics().PluginRestarts.WithLabelValues(plugin).Inc()
					}
				},
			})
			defer cat.Close()
			d, err := daemon.New(ctx, cfg, daemon.Options{Log: log, Catalog: cat, UI: daemonUI(log)})
			if err != nil {
				return withCode(ExitError, fmt.Errorf("daemon: %w", err))
			}
			running.Store(d)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-e.hangup: // nil without WithHangup: never
						d.Hangup(ctx)
					}
				}
			}()
			if err := d.Serve(ctx, nil); err != nil {
				return withCode(ExitError, fmt.Errorf("daemon: %w", err))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&config, "config", os.Getenv("CHAOSCTL_CONFIG"), "daemon config file (TOML); default: built-in defaults ($CHAOSCTL_CONFIG)")
	return cmd
}

// clientFlags say where the daemon is, for the commands that talk to it.
type clientFlags struct {
	socket, addr, tokenFile, caFile string
}

func addClientFlags(cmd *cobra.Command, f *clientFlags) {
	cmd.Flags().StringVar(&f.socket, "socket", "", "daemon's unix socket (default $CHAOSCTL_SOCKET, $XDG_RUNTIME_DIR/chaosctl.sock or /run/chaosctl/chaosctl.sock)")
	cmd.Flags().StringVar(&f.addr, "addr", os.Getenv("CHAOSCTL_ADDR"), "daemon's TCP address, host:port or https://host:port ($CHAOSCTL_ADDR)")
	cmd.Flags().StringVar(&f.tokenFile, "token-file", os.Getenv("CHAOSCTL_TOKEN_FILE"), "file holding the API bearer token, for --addr ($CHAOSCTL_TOKEN_FILE)")
	cmd.Flags().StringVar(&f.caFile, "ca-file", os.Getenv("CHAOSCTL_CA_FILE"), "CA certificate for a daemon with a self-signed TLS certificate ($CHAOSCTL_CA_FILE)")
}

// explicit reports whether the user named a daemon.
func (f clientFlags) explicit() bool { return f.socket != "" || f.addr != "" }

func (f clientFlags) client() (*daemon.Client, error) {
	c, err := daemon.NewClient(daemon.ClientOptions{Socket: f.socket, Addr: f.addr, TokenFile: f.tokenFile, CAFile: f.caFile})
	if err != nil {
		return nil, withCode(ExitInvalid, err)
	}
	return c, nil
}

// apiErr turns a client error into an exit: 2 for what the request got
// wrong (unknown run or scenario, bad input), 5 for the rest.
func apiErr(err error) error {
	var ae *daemon.APIError
	if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != 401 {
		return withCode(ExitInvalid, err)
	}
	if errors.Is(err, daemon.ErrUnreachable) {
		return withCode(ExitError, fmt.Errorf("%w (start one with `chaosctl daemon`)", err))
	}
	return withCode(ExitError, err)
}
