package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/chaosctl/chaosctl/daemon/api"
)

// clientFlags say where the daemon is, for the commands that talk to it.
type clientFlags struct {
	socket, addr, tokenFile, caFile string
}

func addClientFlags(cmd *cobra.Command, f *clientFlags) {
	cmd.Flags().StringVar(&f.socket, "socket", "", "daemon's unix socket (default $CHAOSCTL_SOCKET, $XDG_RUNTIME_DIR/chaosctl.sock or /run/chaosctl/chaosctl.sock)")
	cmd.Flags().StringVar(&f.addr, "addr", os.Getenv("CHAOSCTL_ADDR"), "daemon's TCP address, host:port or https://host:port ($CHAOSCTL_ADDR)")
	cmd.Flags().StringVar(&f.tokenFile, "token-file", os.Getenv("CHAOSCTL_TOKEN_FILE"), "file holding the API bearer token, for --addr ($CHAOSCTL_TOKEN_FILE)")
	cmd.Flags().StringVar(&f.caFile, "ca-file", os.Getenv("CHAOSCTL_CA_FILE"), "CA certificate for a daemon with a self-signed TLS certificate ($CHAOSCTL_CA_FILE)")
}

// explicit reports whether the user named a daemon.
func (f clientFlags) explicit() bool { return f.socket != "" || f.addr != "" }

func (f clientFlags) client() (*api.Client, error) {
	c, err := api.NewClient(api.ClientOptions{Socket: f.socket, Addr: f.addr, TokenFile: f.tokenFile, CAFile: f.caFile})
	if err != nil {
		return nil, withCode(ExitInvalid, err)
	}
	return c, nil
}

// apiErr turns a client error into an exit: 2 for what the request got
// wrong (unknown run or scenario, bad input), 5 for the rest.
func apiErr(err error) error {
	var ae *api.APIError
	if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != 401 {
		return withCode(ExitInvalid, err)
	}
	if errors.Is(err, api.ErrUnreachable) {
		return withCode(ExitError, fmt.Errorf("%w (start one with `chaosctl daemon`)", err))
	}
	return withCode(ExitError, err)
}
