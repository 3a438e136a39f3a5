package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/chaosctl/chaosctl/daemon/api"
)

func newFaultsCmd(e *env) *cobra.Command {
	list := daemonCmd(&cobra.Command{
		Use:   "faults",
		Short: "List the faults the daemon could not revert (it retries them with backoff)",
		Long: `faults lists every fault the daemon's ledger holds as not reverted: a revert
that failed (the daemon retries it, backing off up to 5 minutes, and keeps
its target quarantined) or a fault whose state is unknown (the runner died
between recording the intent and the plugin's answer). Check such a target
by hand, then "chaosctl faults forget RUN_ID FAULT_ID".

  chaosctl faults                      list them
  chaosctl faults retry                retry every failed revert now
  chaosctl faults forget RUN FAULT     stop retrying one, free its target`,
		Args: cobra.NoArgs,
	}, func(cmd *cobra.Command, c *api.Client, _ []string) error {
		f, err := c.Faults(cmd.Context())
		if err != nil {
			return apiErr(err)
		}
		return printFaults(e, f)
	})
	retry := daemonCmd(&cobra.Command{
		Use:   "retry",
		Short: "Retry every failed revert now",
		Args:  cobra.NoArgs,
	}, func(cmd *cobra.Command, c *api.Client, _ []string) error {
		f, err := c.RetryFaults(cmd.Context())
		if err != nil {
			return apiErr(err)
		}
		return printFaults(e, f)
	})
	forget := daemonCmd(&cobra.Command{
		Use:   "forget RUN_ID FAULT_ID",
		Short: "Stop retrying a fault you dealt with by hand, and free its target",
		Args:  cobra.ExactArgs(2),
	}, func(cmd *cobra.Command, c *api.Client, args []string) error {
		f, err := c.ForgetFault(cmd.Context(), api.FaultRef{RunID: args[0], FaultID: args[1]})
		if err != nil {
			return apiErr(err)
		}
		return printRemote(e, f, fmt.Sprintf("forgotten: %s %s on %s; chaosctl no longer reverts it", f.RunID, f.Fault.ID, f.Fault.Target))
	})
	list.AddCommand(retry, forget)
	return list
}

func printFaults(e *env, f api.FaultsResponse) error {
	var b strings.Builder
	if len(f.Faults) == 0 {
		b.WriteString("no unreverted faults")
	} else {
		w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "RUN\tFAULT\tTARGET\tSTATE\tSINCE\tWHY")
		for _, u := range f.Faults {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", u.RunID, u.Fault.ID, u.Fault.Target, u.State, u.Updated.Format("2006-01-02 15:04:05"), u.Fault.RevertError)
		}
		w.Flush()
	}
	return printRemote(e, f, strings.TrimRight(b.String(), "\n"))
}
