package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/chaosctl/chaosctl/internal/kube"
)

// kubeFlags hands --kubeconfig and --context to everything this process
// starts (plugin processes read the environment): the kubernetes plugin
// and probe kind reach the cluster they name. A daemon run uses the
// daemon's environment, or the scenario's own kubeconfig and context keys.
func kubeFlags(cmd *cobra.Command) error {
	if v, _ := cmd.Flags().GetString("kubeconfig"); v != "" {
		abs, err := filepath.Abs(v)
		if err != nil {
			return fmt.Errorf("--kubeconfig: %w", err)
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("--kubeconfig: %w", err)
		}
		os.Setenv(kube.EnvKubeconfig, abs)
	}
	if v, _ := cmd.Flags().GetString("context"); v != "" {
		os.Setenv(kube.EnvContext, v)
	}
	return nil
}
