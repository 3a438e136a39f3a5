package daemon

import (
	"errors"
	"strings"
	"testing"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/plugins"
)

func TestQuarantinedTargetRefusesRuns(t *testing.T) {
	l := newTargetLocks()
	tg := plugins.Target{Kind: "container", ID: "abc", Name: "api-1"}
	release, err := l.acquire("r1", []plugins.Target{tg})
	if err != nil {
		t.Fatal(err)
	}
	release()
	l.quarantine("r1", tg)
	// Same target under another name: the lock is on kind and id.
	renamed := plugins.Target{Kind: "container", ID: "abc", Name: "api-renamed"}
	_, err = l.acquire("r2", []plugins.Target{renamed})
	if !errors.Is(err, api.ErrTargetBusy) || !strings.Contains(err.Error(), "quarantined") {
		t.Fatalf("acquire of a quarantined target: %v", err)
	}
}
