package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/plugins/builtin"
	"github.com/chaosctl/chaosctl/plugins/host"
	"github.com/chaosctl/chaosctl/plugins/stress"
)

// pluginFlags say where third-party plugins and their checksums are.
type pluginFlags struct {
	dir       string
	checksums string
}

func (f *pluginFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.dir, "plugin-dir", host.DefaultDir(), "directory of third-party plugins (chaosctl-plugin-NAME executables)")
	fs.StringVar(&f.checksums, "plugin-checksums", "", "sha256sum-format file of allowed third-party plugins; keep it where plugin authors cannot write (default: PLUGIN_DIR/SHA256SUMS)")
}

// catalog runs every plugin in its own child process. Close it when done.
func (f *pluginFlags) catalog(e *env) *host.Catalog {
	sums := f.checksums
	if sums == "" {
		sums = strings.TrimRight(f.dir, "/") + "/SHA256SUMS"
	}
	return host.New(host.Config{Log: e.log, Builtins: builtin.Names(), Dir: f.dir, Checksums: sums})
}

func newPluginsCmd(e *env) *cobra.Command {
	var pf pluginFlags
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List fault plugins, built-in and third-party, with their actions and parameters, and probe plugins with their kinds",
		Long: "plugins starts every plugin (a third-party one only when its sha256 is in the checksums\n" +
			"file) and prints what it describes: actions, parameters and target selector keys.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat := pf.catalog(e)
			defer cat.Close()
			list := append(cat.List(cmd.Context()), cat.ListProbes(cmd.Context())...)
			if e.output == "json" {
				return json.NewEncoder(e.stdout).Encode(list)
			}
			fmt.Fprint(e.stdout, pluginsTable(list))
			return nil
		},
	}
	pf.add(cmd.Flags())
	return cmd
}

// pluginsTable renders the list as text: one block per plugin.
func pluginsTable(list []host.Info) string {
	var b strings.Builder
	for i, in := range list {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s (%s", in.Name, in.Source)
		if in.Path != "" {
			fmt.Fprintf(&b, " %s", in.Path)
		}
		b.WriteString(")")
		if in.Descriptor != nil {
			fmt.Fprintf(&b, " v%s: %s\n", in.Descriptor.Version, in.Descriptor.Doc)
		} else if in.Probe != nil {
			fmt.Fprintf(&b, " v%s: %s\n", in.Probe.Version, in.Probe.Doc)
		} else {
			b.WriteString("\n")
		}
		if in.Error != "" {
			fmt.Fprintf(&b, "  unusable: %s\n", in.Error)
			continue
		}
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		if in.Probe != nil {
			fmt.Fprintln(tw, "  PROBE KIND\tKEY\tTYPE\tDEFAULT\tDOC")
			for _, k := range in.Probe.Kinds {
				fmt.Fprintf(tw, "  %s.%s\t\t\t\t%s\n", in.Name, k.Name, k.Doc)
				for _, p := range k.Keys {
					paramRow(tw, "", p)
				}
			}
			tw.Flush()
			continue
		}
		fmt.Fprintln(tw, "  ACTION\tKEY\tTYPE\tDEFAULT\tDOC")
		for _, a := range in.Descriptor.Actions {
			rev := ""
			if a.Reversible {
				rev = " (reverted)"
			}
			fmt.Fprintf(tw, "  %s\t\t\t\t%s%s\n", a.Name, a.Doc, rev)
			for _, p := range a.Params {
				paramRow(tw, "params.", p)
			}
			for _, p := range a.Selector {
				paramRow(tw, "target.", p)
			}
		}
		tw.Flush()
	}
	return b.String()
}

// paramRow writes one key of an action or a probe kind.
func paramRow(w io.Writer, prefix string, p plugins.Param) {
	def := ""
	if p.Default != nil {
		def = fmt.Sprint(p.Default)
	}
	doc := p.Doc
	if p.Required {
		doc = "required; " + doc
	}
	if p.Min != nil || p.Max != nil {
		doc += " [" + bound(p.Min) + ".." + bound(p.Max) + "]"
	}
	if len(p.Enum) > 0 {
		doc += " {" + strings.Join(p.Enum, ", ") + "}"
	}
	fmt.Fprintf(w, "  \t%s%s\t%s\t%s\t%s\n", prefix, p.Name, p.Type, def, doc)
}

func bound(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'f', -1, 64)
}

// newPluginCmd is the hidden side of the plugin boundary: chaosctl
// re-executes itself as `chaosctl plugin serve NAME` for each built-in
// plugin, and the stress plugin as `chaosctl plugin stress-worker`.
func newPluginCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "plugin", Hidden: true, Short: "internal: run as a plugin process"}
	cmd.AddCommand(&cobra.Command{
		Use:  "serve NAME",
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			f, err := builtin.New(args[0])
			if err != nil {
				return withCode(ExitInvalid, err)
			}
			if os.Getenv(plugins.Handshake.MagicCookieKey) != plugins.Handshake.MagicCookieValue {
				return withCode(ExitInvalid, fmt.Errorf("plugin serve is run by chaosctl itself, not by hand"))
			}
			plugins.Serve(f)
			return nil
		},
	}, &cobra.Command{
		Use:  "stress-worker",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := stress.RunWorker(cmd.Context(), os.Getenv(stress.WorkerEnv)); err != nil {
				return withCode(ExitError, err)
			}
			return nil
		},
	})
	return cmd
}
