package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosctl/chaosctl/daemon/api"
)

// The commands below talk to a running daemon through its API.

// daemonCmd completes cmd with the flags that say where the daemon is and
// runs run with a client for it.
func daemonCmd(cmd *cobra.Command, run func(cmd *cobra.Command, c *api.Client, args []string) error) *cobra.Command {
	var cf clientFlags
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		return run(cmd, c, args)
	}
	addClientFlags(cmd, &cf)
	return cmd
}

func newListCmd(e *env) *cobra.Command {
	return daemonCmd(&cobra.Command{
		Use:   "list",
		Short: "List the daemon's scenarios, their schedules and the files that failed to load",
		Args:  cobra.NoArgs,
	}, func(cmd *cobra.Command, c *api.Client, _ []string) error {
		l, err := c.Scenarios(cmd.Context())
		if err != nil {
			return apiErr(err)
		}
		if e.output == "json" {
			return json.NewEncoder(e.stdout).Encode(l)
		}
		w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "SCENARIO\tSCHEDULE\tWINDOW\tNEXT RUN\tRUNNING\tFILE")
		for _, s := range l.Scenarios {
			next := "-"
			if s.NextRun != nil {
				next = s.NextRun.Local().Format("2006-01-02 15:04:05")
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, dash(s.Schedule), dash(s.Window), next, dash(strings.Join(s.Running, ",")), s.File)
		}
		w.Flush()
		for _, le := range l.Errors {
			for _, m := range le.Errors {
				fmt.Fprintln(e.stdout, "invalid:", m)
			}
		}
		return nil
	})
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newStatusCmd(e *env) *cobra.Command {
	return daemonCmd(&cobra.Command{
		Use:   "status [RUN]",
		Short: "Show the daemon's state, or one run's journal",
		Args:  cobra.MaximumNArgs(1),
	}, func(cmd *cobra.Command, c *api.Client, args []string) error {
		if len(args) == 1 {
			j, err := c.Run(cmd.Context(), args[0])
			if err != nil {
				return apiErr(err)
			}
			if e.output == "json" {
				return json.NewEncoder(e.stdout).Encode(j)
			}
			fmt.Fprint(e.stdout, summary(j, ""))
			return nil
		}
		st, err := c.Status(cmd.Context())
		if err != nil {
			return apiErr(err)
		}
		if e.output == "json" {
			return json.NewEncoder(e.stdout).Encode(st)
		}
		state := "running"
		if st.Halted {
			state = "HALTED (no new runs until `chaosctl resume`)"
		}
		fmt.Fprintf(e.stdout, "daemon\t%s at %s\nscenarios\t%d loaded, %d invalid files\nstore\t%s\n", state, c.Where(), st.Scenarios, st.InvalidFiles, st.Store)
		if len(st.Active) == 0 {
			fmt.Fprintln(e.stdout, "runs\tnone in progress")
			return nil
		}
		w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "RUN\tSCENARIO\tTRIGGER\tPHASE\tFOR")
		for _, r := range st.Active {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.RunID, r.Scenario, r.Trigger, r.Phase, time.Since(r.StartedAt).Round(time.Second))
		}
		return w.Flush()
	})
}

func newAbortCmd(e *env) *cobra.Command {
	return daemonCmd(&cobra.Command{
		Use:   "abort RUN",
		Short: "Abort a run in progress; its faults are reverted",
		Args:  cobra.ExactArgs(1),
	}, func(cmd *cobra.Command, c *api.Client, args []string) error {
		if err := c.Abort(cmd.Context(), args[0]); err != nil {
			return apiErr(err)
		}
		return printRemote(e, map[string]string{"run_id": args[0], "status": "aborting"}, "aborting "+args[0]+": its faults are being reverted")
	})
}

func newHaltCmd(e *env) *cobra.Command {
	return daemonCmd(&cobra.Command{
		Use:   "halt",
		Short: "Kill switch: abort every run and refuse new ones until resume",
		Args:  cobra.NoArgs,
	}, func(cmd *cobra.Command, c *api.Client, _ []string) error {
		h, err := c.Halt(cmd.Context())
		if err != nil {
			return apiErr(err)
		}
		return printRemote(e, h, fmt.Sprintf("halted: %d run(s) aborted %v; no new runs until `chaosctl resume`", len(h.Aborted), h.Aborted))
	})
}

func newResumeCmd(e *env) *cobra.Command {
	return daemonCmd(&cobra.Command{
		Use:   "resume",
		Short: "Lift the kill switch: runs may start again",
		Args:  cobra.NoArgs,
	}, func(cmd *cobra.Command, c *api.Client, _ []string) error {
		if err := c.Resume(cmd.Context()); err != nil {
			return apiErr(err)
		}
		return printRemote(e, api.HaltResponse{Aborted: []string{}}, "resumed: runs may start again")
	})
}

func printRemote(e *env, v any, text string) error {
	if e.output == "json" {
		return json.NewEncoder(e.stdout).Encode(v)
	}
	fmt.Fprintln(e.stdout, text)
	return nil
}
