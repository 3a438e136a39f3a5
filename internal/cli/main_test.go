package cli

import (
	"context"
	"os"
	"testing"
)

// chaosctl runs its built-in plugins by re-executing itself as
// "plugin serve NAME"; in these tests the test binary is that executable.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "plugin" {
		os.Exit(Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
