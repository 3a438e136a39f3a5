package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chaosctl/chaosctl/scenarios"
)

func newValidateCmd(e *env) *cobra.Command {
	var pf pluginFlags
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check scenario files; report every error as file:line:col: field: message",
		Long: "validate decodes each file strictly and checks it against the probe kinds and the plugins'\n" +
			"parameter schemas. It reports every error at once and exits 2 when any file is invalid.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			type result struct {
				File   string   `json:"file"`
				Valid  bool     `json:"valid"`
				Name   string   `json:"scenario,omitempty"`
				Errors []string `json:"errors,omitempty"`
			}
			var results []result
			cat := pf.catalog(e)
			defer cat.Close()
			invalid := 0
			for _, f := range files {
				sc, err := scenarios.Load(cmd.Context(), f, cat)
				res := result{File: f, Valid: err == nil}
				if err != nil {
					invalid++
					var list scenarios.ErrorList
					if errors.As(err, &list) {
						for _, le := range list {
							res.Errors = append(res.Errors, le.Error())
						}
					} else {
						res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", f, err))
					}
				} else {
					res.Name = sc.Name
				}
				results = append(results, res)
			}
			if e.output == "json" {
				if err := json.NewEncoder(e.stdout).Encode(results); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					if r.Valid {
						fmt.Fprintf(e.stdout, "%s: ok (scenario %s)\n", r.File, r.Name)
						continue
					}
					for _, m := range r.Errors {
						fmt.Fprintln(e.stdout, m)
					}
				}
			}
			if invalid > 0 {
				return withCode(ExitInvalid, fmt.Errorf("%d of %d files invalid", invalid, len(files)))
			}
			return nil
		},
	}
	pf.add(cmd.Flags())
	return cmd
}
