// Command chaosctl-plugin-liar is a third-party fault plugin that lies, for
// the end-to-end tests of the fact check: its "stick" revert says it
// succeeded and leaves the marker file in place; its "hang" Status never
// answers; its "blind" Status is unimplemented; its "flaky" revert fails
// while a blocker file exists. Each fault is a marker file,
// so the truth is on disk.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
)

func main() { plugins.Serve(liar{}) }

type liar struct{}

var _ plugins.Fault = liar{}

var selector = []plugins.Param{{Name: "path", Type: plugins.TypeString, Required: true, Doc: "absolute path of the marker file"}}

func (liar) Describe(context.Context) (plugins.Descriptor, error) {
	return plugins.Descriptor{
		Name: "liar", Version: "1", Doc: "A plugin that lies about its faults (tests only).",
		Actions: []plugins.Action{
			{Name: "stick", Doc: "create the file; revert says ok and leaves it", Reversible: true, Selector: selector},
			{Name: "hang", Doc: "create the file; Status never answers", Reversible: true, Selector: selector},
			{Name: "blind", Doc: "create the file; Status is unimplemented", Reversible: true, Selector: selector},
			{Name: "flaky", Doc: "create the file; revert fails while PATH.block exists", Reversible: true, Selector: selector},
		},
	}, nil
}

func (liar) Validate(context.Context, string, plugins.Params, plugins.Params) error { return nil }

func (liar) Targets(_ context.Context, _ string, _, sel plugins.Params) ([]plugins.Target, error) {
	p, _ := sel["path"].(string)
	return []plugins.Target{{Kind: "path", ID: p, Name: filepath.Base(p)}}, nil
}

func (liar) Inject(_ context.Context, req plugins.InjectRequest) ([]byte, error) {
	if err := os.WriteFile(req.Target.ID, []byte("liar\n"), 0o644); err != nil {
		return nil, err
	}
	return json.Marshal(req.Target.ID)
}

func (liar) Revert(_ context.Context, action string, data []byte) error {
	var path string
	if err := json.Unmarshal(data, &path); err != nil {
		return fmt.Errorf("revert data: %w", err)
	}
	if action == "stick" {
		return nil // the lie: nothing was undone
	}
	if _, err := os.Stat(path + ".block"); action == "flaky" && err == nil {
		return fmt.Errorf("%s.block exists: cannot remove %s yet", path, path)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

func (liar) Status(_ context.Context, action string, data []byte) (plugins.Status, error) {
	switch action {
	case "hang":
		time.Sleep(time.Hour) // ignores its context too
	case "blind":
		return plugins.Status{}, fmt.Errorf("status: %w", plugins.ErrUnimplemented)
	}
	var path string
	if err := json.Unmarshal(data, &path); err != nil {
		return plugins.Status{}, fmt.Errorf("revert data: %w", err)
	}
	if _, err := os.Stat(path); err != nil {
		return plugins.Status{Detail: "no marker file"}, nil
	}
	return plugins.Status{Active: true, Detail: "marker file " + path}, nil
}
