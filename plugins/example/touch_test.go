package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosctl/chaosctl/plugins"
)

// TestStatusFollowsTheFile: Status reads the file system, not what
// Inject did: a marker removed by hand is a fault that vanished.
func TestStatusFollowsTheFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "maintenance")
	f := &Touch{}
	rd, err := f.Inject(ctx, plugins.InjectRequest{Action: "create", Params: plugins.Params{"content": "down\n"}, Target: plugins.Target{Kind: "path", ID: path}})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name   string
		do     func() error
		active bool
		detail string
	}{
		{"injected", func() error { return nil }, true, "marker file " + path + " exists (5 bytes)"},
		{"removed by hand", func() error { return os.Remove(path) }, false, "marker file " + path + " is gone"},
		{"back by hand", func() error { return os.WriteFile(path, nil, 0o644) }, true, "exists (0 bytes)"},
		{"reverted", func() error { return f.Revert(ctx, "create", rd) }, false, "is gone"},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		st, err := f.Status(ctx, "create", rd)
		if err != nil || st.Active != step.active || !strings.Contains(st.Detail, step.detail) {
			t.Fatalf("%s: status %+v, %v; want active=%v with %q", step.name, st, err, step.active, step.detail)
		}
	}
}
