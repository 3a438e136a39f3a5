package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/plugins/fill"
)

// refused checks that err is the refusal of dir on field, in exactly the
// words want gives.
func refused(t *testing.T, step string, err error, want string) {
	t.Helper()
	var ve *plugins.ValidationError
	if !errors.As(err, &ve) || ve.Field != "target.path" {
		t.Fatalf("%s: got %v, want a *plugins.ValidationError on target.path", step, err)
	}
	if ve.Msg != want {
		t.Fatalf("%s: got\n%s\nwant\n%s", step, ve.Msg, want)
	}
}

func fillIn(ctx context.Context, f *Fault, dir string, params plugins.Params) ([]byte, error) {
	return f.Inject(ctx, plugins.InjectRequest{Action: "fill", Params: params, Target: plugins.Target{Kind: "path", ID: dir, Name: dir}})
}

// TestRefusesChaosctlsFilesystem: with chaosctl's store on a tmpfs (a path
// not made yet, as at a first start), any directory of that tmpfs is refused
// by Targets and Inject, naming the store and the filesystem;
// allow_own_filesystem = true overrides, and another tmpfs is filled.
func TestRefusesChaosctlsFilesystem(t *testing.T) {
	own, other := tmpfs(t, "8m"), tmpfs(t, "8m")
	t.Setenv(plugins.ProtectedPathsEnv, "")
	store := filepath.Join(own, "state", "chaosctl.db")
	plugins.ProtectPaths(store)
	dir := filepath.Join(own, "scratch")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(own, &st); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s is on the filesystem of %s, which holds chaosctl's store, ledgers or journals (tmpfs filesystem mounted at %s, device %d:%d): refusing to fill it; allow_own_filesystem = true overrides",
		dir, store, own, unix.Major(st.Dev), unix.Minor(st.Dev))

	ctx := context.Background()
	f := New()
	sel, params := plugins.Params{"path": dir}, plugins.Params{"size": "1MiB"}
	_, err := f.Targets(ctx, "fill", params, sel)
	refused(t, "Targets", err, want)
	_, err = fillIn(ctx, f, dir, params)
	refused(t, "Inject", err, want)
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a refused fill left %d files", len(ents))
	}

	params[fill.AllowOwnFilesystem] = true
	if _, err := f.Targets(ctx, "fill", params, sel); err != nil {
		t.Fatalf("Targets with allow_own_filesystem: %v", err)
	}
	rd, err := fillIn(ctx, f, dir, params)
	if err != nil {
		t.Fatalf("Inject with allow_own_filesystem: %v", err)
	}
	if err := f.Revert(ctx, "fill", rd); err != nil {
		t.Fatal(err)
	}

	// Another filesystem is not chaosctl's.
	params = plugins.Params{"size": "1MiB"}
	if _, err := f.Targets(ctx, "fill", params, plugins.Params{"path": other}); err != nil {
		t.Fatalf("Targets on another tmpfs: %v", err)
	}
	rd, err = fillIn(ctx, f, other, params)
	if err != nil {
		t.Fatalf("Inject on another tmpfs: %v", err)
	}
	if err := f.Revert(ctx, "fill", rd); err != nil {
		t.Fatal(err)
	}
}
