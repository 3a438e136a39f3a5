package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/chaosctl/chaosctl/internal/stricttoml"
	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/scenarios"
)

func newValidateCmd(e *env) *cobra.Command {
	var (
		pf     pluginFlags
		online bool
	)
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check scenario files; report every error as file:line:col: field: message",
		Long: "validate decodes each file strictly and checks it against the probe kinds and the plugins'\n" +
			"parameter schemas. It reports every error at once and exits 2 when any file is invalid.\n" +
			"With --online it also asks the servers some probes depend on: a prometheus probe's query\n" +
			"is run once, and a query Prometheus rejects is an error with Prometheus's own message. A\n" +
			"server that cannot be reached is not an error: its check is skipped.",
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
				if err == nil && online {
					err = onlineCheck(cmd.Context(), sc)
				}
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
	cmd.Flags().BoolVar(&online, "online", false, "also run each prometheus probe's query once against its server (when reachable)")
	return cmd
}

// onlineCheck runs the preflight check of every probe that has one
// (probes.Preflighter), and places what fails at the key it names.
func onlineCheck(ctx context.Context, sc *scenarios.Scenario) error {
	var list scenarios.ErrorList
	for i, p := range sc.Probes {
		pr, err := p.Spec.Build(p.Name)
		if err != nil {
			return fmt.Errorf("probe %s: %w", p.Name, err) // validated by Load: not expected
		}
		if pre, ok := pr.(probes.Preflighter); ok {
			err = pre.Preflight(ctx)
		}
		if c, ok := pr.(io.Closer); ok {
			_ = c.Close() // idle connections only
		}
		if err == nil {
			continue
		}
		field, msg := stricttoml.Elem("probe", i), err.Error()
		var fe probes.FieldError
		if errors.As(err, &fe) {
			field, msg = stricttoml.Join(field, fe.Field), fe.Msg
		}
		pos := sc.Pos.Lookup(field)
		list = append(list, &scenarios.Error{File: sc.Path, Line: pos.Line, Col: pos.Col, Field: field, Msg: msg})
	}
	if len(list) == 0 {
		return nil
	}
	return list
}
