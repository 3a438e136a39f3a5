package plugins

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestProtectPaths(t *testing.T) {
	t.Setenv(ProtectedPathsEnv, "")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	ProtectPaths("/var/lib/chaosctl/", "", "journals")
	ProtectPaths("/var/lib/chaosctl", filepath.Join(wd, "journals"), "/run/chaosctl")
	want := []string{"/var/lib/chaosctl", filepath.Join(wd, "journals"), "/run/chaosctl"}
	if got := ProtectedPaths(); !slices.Equal(got, want) {
		t.Fatalf("ProtectedPaths() = %q, want %q", got, want)
	}
	if got, want := os.Getenv(ProtectedPathsEnv), "/var/lib/chaosctl"+string(os.PathListSeparator)+filepath.Join(wd, "journals")+string(os.PathListSeparator)+"/run/chaosctl"; got != want {
		t.Fatalf("%s = %q, want %q", ProtectedPathsEnv, got, want)
	}
}
