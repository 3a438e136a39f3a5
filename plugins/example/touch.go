package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chaosctl/chaosctl/plugins"
)

// Touch creates a marker file for the fault's duration and removes it on
// revert: harmless, and visible to a probe (e.g. a health check that fails
// while a maintenance file exists).
type Touch struct{}

var _ plugins.Fault = (*Touch)(nil)

func (*Touch) Describe(context.Context) (plugins.Descriptor, error) {
	return plugins.Descriptor{
		Name: "touch", Version: "1", Doc: "Create a marker file for the fault's duration (example third-party plugin).",
		Actions: []plugins.Action{{
			Name: "create", Doc: "create the file (it must not exist); revert removes it", Reversible: true,
			Params: []plugins.Param{
				{Name: "content", Type: plugins.TypeString, Default: "chaosctl\n", Doc: "what to write in it"},
			},
			Selector: []plugins.Param{
				{Name: "path", Type: plugins.TypeString, Required: true, Doc: "absolute path of the file"},
			},
		}},
	}, nil
}

func (*Touch) Validate(_ context.Context, action string, _, sel plugins.Params) error {
	if action != "create" {
		return fmt.Errorf("%w %q", plugins.ErrUnknownAction, action)
	}
	if p, _ := sel["path"].(string); !filepath.IsAbs(p) {
		return &plugins.ValidationError{Field: "target.path", Msg: fmt.Sprintf("touch wants an absolute path, got %q", p)}
	}
	return nil
}

func (*Touch) Targets(_ context.Context, _ string, _, sel plugins.Params) ([]plugins.Target, error) {
	p, _ := sel["path"].(string)
	if _, err := os.Stat(filepath.Dir(p)); err != nil {
		return nil, plugins.ErrNoTargets
	}
	return []plugins.Target{{Kind: "path", ID: p, Name: filepath.Base(p)}}, nil
}

type revertData struct {
	Path string `json:"path"`
}

func (*Touch) Inject(_ context.Context, req plugins.InjectRequest) ([]byte, error) {
	content, _ := req.Params["content"].(string)
	f, err := os.OpenFile(req.Target.ID, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", req.Target.ID, err)
	}
	_, werr := f.WriteString(content)
	if err := errors.Join(werr, f.Close()); err != nil {
		_ = os.Remove(req.Target.ID)
		return nil, err
	}
	return json.Marshal(revertData{Path: req.Target.ID})
}

func (*Touch) Revert(_ context.Context, _ string, data []byte) error {
	var rd revertData
	if err := json.Unmarshal(data, &rd); err != nil {
		return fmt.Errorf("revert data: %w", err)
	}
	if err := os.Remove(rd.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Status is Active while the marker file exists.
func (*Touch) Status(_ context.Context, _ string, data []byte) (plugins.Status, error) {
	var rd revertData
	if err := json.Unmarshal(data, &rd); err != nil {
		return plugins.Status{}, fmt.Errorf("revert data: %w", err)
	}
	st, err := os.Stat(rd.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return plugins.Status{Detail: "marker file " + rd.Path + " is gone"}, nil
	case err != nil:
		return plugins.Status{}, fmt.Errorf("status of %s: %w", rd.Path, err)
	}
	return plugins.Status{Active: true, Detail: fmt.Sprintf("marker file %s exists (%d bytes)", rd.Path, st.Size())}, nil
}
