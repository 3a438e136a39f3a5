package daemon

import (
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins"
)

func experimentsReq(f journal.Fault) plugins.InjectRequest {
	return plugins.InjectRequest{Action: f.Action, Target: f.Target}
}
