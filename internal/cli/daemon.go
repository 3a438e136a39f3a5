package cli

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/chaosctl/chaosctl/daemon"
	"github.com/chaosctl/chaosctl/internal/memlimit"
	"github.com/chaosctl/chaosctl/internal/ui"
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

With [agent] enabled = true in its config it is also a node agent: a
controller elsewhere (the kubernetes plugin's in-pod faults) asks it over
the API to inject one fault into a container on this node, under a lease
the controller renews; a fault whose lease runs out is reverted here.

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

// daemonUI is the dashboard the daemon serves under /ui/ when [ui]
// enabled is set: behind a login form that takes the API token.
func daemonUI(log zerolog.Logger) daemon.UIFactory {
	return func(m daemon.UIMount) (http.Handler, error) {
		return ui.New(ui.Options{API: m.API, Log: log.With().Str("component", "ui").Logger(), Prefix: m.Prefix, Token: m.Token, Secure: m.Secure})
	}
}
