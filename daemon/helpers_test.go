package daemon

import (
	"context"
	"net"
	"net/http"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/plugins"
)

func experimentsReq(f journal.Fault) plugins.InjectRequest {
	return plugins.InjectRequest{Action: f.Action, Target: f.Target}
}

// unixHTTP is an HTTP client whose every request goes to the unix socket
// sock, whatever its URL's host ("http://chaosctl/v1/status").
func unixHTTP(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}
