package cli

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/scenarios"
)

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the formats this binary reads",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v := map[string]any{
				"version": Version, "go": runtime.Version(),
				"scenario_format": scenarios.Version, "journal_format": journal.FormatVersion,
			}
			if e.output == "json" {
				return json.NewEncoder(e.stdout).Encode(v)
			}
			fmt.Fprintf(e.stdout, "chaosctl %s (%s), scenario format v%d, journal format v%d\n",
				Version, runtime.Version(), scenarios.Version, journal.FormatVersion)
			return nil
		},
	}
}
