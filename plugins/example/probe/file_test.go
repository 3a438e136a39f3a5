package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chaosctl/chaosctl/plugins"
)

func TestFileExists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "marker")
	ctx := context.Background()
	f := &File{}
	req := plugins.SampleRequest{Kind: "exists", Spec: plugins.Params{"path": path}}
	s, err := f.Sample(ctx, req)
	if err != nil || s.OK || s.Err != path+" does not exist" {
		t.Fatalf("missing file: %+v %v", s, err)
	}
	if err := os.WriteFile(path, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err = f.Sample(ctx, req); err != nil || !s.OK || s.Value != 5 {
		t.Fatalf("present file: %+v %v", s, err)
	}
	req.Spec["absent"] = true
	if s, err = f.Sample(ctx, req); err != nil || s.OK {
		t.Fatalf("absent = true, file present: %+v %v", s, err)
	}
	if err := f.Validate(ctx, "exists", plugins.Params{"path": "rel"}); err == nil {
		t.Fatal("relative path accepted")
	}
}
