package fill

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chaosctl/chaosctl/plugins"
)

// refused checks err is the refusal, as a validation error on target.path.
func refused(t *testing.T, err error, want string) {
	t.Helper()
	var ve *plugins.ValidationError
	if !errors.As(err, &ve) || ve.Field != "target.path" || ve.Msg != want {
		t.Fatalf("err %v, want target.path: %s", err, want)
	}
}

// TestRefusesTheRootFilesystem: / is refused even when chaosctl protects
// nothing, without a mount.
func TestRefusesTheRootFilesystem(t *testing.T) {
	t.Setenv(plugins.ProtectedPathsEnv, "")
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("/ is on the root filesystem (%s): refusing to fill it; allow_own_filesystem = true overrides", describeDevice(st.Dev))
	err := RefuseOwnFilesystem("/", plugins.Params{}, "target.path")
	refused(t, err, want)
}

// TestRefusesAnyDirectoryOfAProtectedFilesystem: the comparison is by
// device, so a directory beside a protected one is refused too (two
// directories of the test's temporary directory, whatever it is on).
func TestRefusesAnyDirectoryOfAProtectedFilesystem(t *testing.T) {
	t.Setenv(plugins.ProtectedPathsEnv, "")
	journals := t.TempDir()
	plugins.ProtectPaths(journals)
	dir := t.TempDir()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s is on the filesystem of %s, which holds chaosctl's store, ledgers or journals (%s): refusing to fill it; allow_own_filesystem = true overrides",
		dir, journals, describeDevice(st.Dev))
	err := RefuseOwnFilesystem(dir, plugins.Params{}, "target.path")
	refused(t, err, want)
	if err := RefuseOwnFilesystem(dir, plugins.Params{AllowOwnFilesystem: true}, "target.path"); err != nil {
		t.Fatalf("allow_own_filesystem = true still refused: %v", err)
	}
}
