package experiments

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins"
)

// crashingFault is a fakeFault whose plugin "dies" right after injecting:
// its host reverts the fault and says so through plugins.CrashWatcher.
type crashingFault struct {
	*fakeFault
	revertErr error
	early     chan plugins.EarlyRevert
}

var _ plugins.CrashWatcher = crashingFault{}

func (f crashingFault) Watch(string, []byte) <-chan plugins.EarlyRevert { return f.early }

type crashCatalog struct{ f crashingFault }

func (c crashCatalog) Lookup(context.Context, string) (plugins.Fault, error) { return c.f, nil }
func (c crashCatalog) Names() []string                                       { return []string{"fake"} }

func TestPluginCrashRevertedEarlyIsJournalled(t *testing.T) {
	for _, tc := range []struct {
		name string
	}{
		{"reverted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var down atomic.Bool
				f := crashingFault{fakeFault: &fakeFault{down: &down}, early: make(chan plugins.EarlyRevert, 1)}
				f.early <- plugins.EarlyRevert{At: time.Now(), Note: "plugin fake process (pid 7) died; relaunched; reverted from revert data"}
				j := Run(context.Background(), minimal(up(), fault("break", 1, time.Hour)), Options{Log: zerolog.Nop(), Catalog: crashCatalog{f}})
				if j.Verdict != journal.Error {
					t.Fatalf("verdict %s %v, want error: the fault did not last as planned", j.Verdict, j.Reasons)
				}
				fl := j.Faults[0]
				if fl.RevertedAt == nil || len(fl.Notes) != 1 || !strings.Contains(fl.Notes[0], "reverted from revert data") {
					t.Fatalf("fault not journalled as reverted early: %+v", fl)
				}
				if fl.RevertError != "" {
					t.Errorf("revert error %q", fl.RevertError)
				}
				if len(f.reverted) != 0 {
					t.Errorf("engine reverted %v again after the host did", f.reverted)
				}
				if !strings.Contains(strings.Join(j.Reasons, "\n"), "died") {
					t.Errorf("reasons %q do not say the plugin died", j.Reasons)
				}
			})
		})
	}
}
