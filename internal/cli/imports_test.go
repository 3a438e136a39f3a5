package cli

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"testing"
)

// TestOnlyTheDaemonCommandLinksTheServer: the commands that talk to a
// daemon (remote, run, history, faults, ui) use package api; only
// `chaosctl daemon`, which runs the server, imports it.
func TestOnlyTheDaemonCommandLinksTheServer(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			if p, _ := strconv.Unquote(im.Path.Value); p == "github.com/chaosctl/chaosctl/daemon" && f != "daemon.go" {
				t.Errorf("%s imports the daemon server; use github.com/chaosctl/chaosctl/daemon/api", f)
			}
		}
	}
}
