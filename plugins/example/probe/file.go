package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
)

// File is the probe plugin "file". Its one kind, exists, is ok while a
// file exists (or, with absent = true, while it does not); the value is
// the file's size in bytes.
type File struct{}

var _ plugins.ProbePlugin = (*File)(nil)

func (*File) Describe(context.Context) (plugins.ProbeDescriptor, error) {
	return plugins.ProbeDescriptor{
		Name: "file", Version: "1.0.0", Doc: "reference probe plugin: watches a file",
		Kinds: []plugins.ProbeKind{{
			Name: "exists", Doc: "ok while the file exists; the value is its size in bytes",
			Keys: []plugins.Param{
				{Name: "path", Type: plugins.TypeString, Required: true, Doc: "absolute path of the file"},
				{Name: "absent", Type: plugins.TypeBool, Default: false, Doc: "ok while the file does not exist instead"},
			},
		}},
	}, nil
}

func (*File) Validate(_ context.Context, kind string, spec plugins.Params) error {
	if kind != "exists" {
		return fmt.Errorf("%w %q", plugins.ErrUnknownAction, kind)
	}
	if p, _ := spec["path"].(string); !filepath.IsAbs(p) {
		return &plugins.ValidationError{Field: "path", Msg: fmt.Sprintf("want an absolute path, got %q", p)}
	}
	return nil
}

func (f *File) Sample(ctx context.Context, req plugins.SampleRequest) (plugins.ProbeSample, error) {
	if err := f.Validate(ctx, req.Kind, req.Spec); err != nil {
		return plugins.ProbeSample{}, err
	}
	start := time.Now()
	path, _ := req.Spec["path"].(string)
	absent, _ := req.Spec["absent"].(bool)
	st, err := os.Stat(path)
	out := plugins.ProbeSample{Latency: time.Since(start)}
	switch {
	case err == nil:
		out.Value = float64(st.Size())
		out.OK = !absent
		if absent {
			out.Err = path + " exists"
		}
	case os.IsNotExist(err):
		out.OK = absent
		if !absent {
			out.Err = path + " does not exist"
		}
	default:
		out.Err = err.Error()
	}
	return out, nil
}
