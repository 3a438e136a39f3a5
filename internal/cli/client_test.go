package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestClientCommandsRefuseTokenInClear: every command that talks to the
// daemon refuses, before connecting, to send a token over plain http off
// this machine.
func TestClientCommandsRefuseTokenInClear(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"status"}, {"list"}, {"halt"}, {"abort", "r1"}, {"run", "x.toml"},
	} {
		t.Run(args[0], func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Execute(context.Background(), append(args, "--addr", "http://192.0.2.7:7433", "--token-file", tok), &out, &errb)
			want := "chaosctl: refusing to send the API token in clear text: --addr http://192.0.2.7:7433 is plain http to 192.0.2.7, which is not a loopback address: use https://192.0.2.7:7433 (and --ca-file for a self-signed certificate)\n"
			if code != ExitInvalid || errb.String() != want {
				t.Errorf("exit %d, stderr %q\nwant exit 2, %q", code, errb.String(), want)
			}
		})
	}
}

// TestHangupEndsCommandsButTheDaemon: SIGHUP cancels every command's
// context (a run reverts and ends) except the daemon's, which reloads.
func TestHangupEndsCommandsButTheDaemon(t *testing.T) {
	hup := make(chan os.Signal, 1)
	hup <- syscall.SIGHUP
	ctx := cancelOnHangup(context.Background(), hup)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGHUP did not cancel the context")
	}
	if cause := context.Cause(ctx); cause != ErrHangup {
		t.Errorf("cause %v, want ErrHangup", cause)
	}
	if cancelOnHangup(context.Background(), nil).Done() != nil {
		t.Error("without a hangup channel the context must be the parent's")
	}
	e := &env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	for _, c := range []struct {
		cmd    *cobra.Command
		reload bool
	}{{newDaemonCmd(e), true}, {newRunCmd(e), false}, {newProxyCmd(e), false}, {newStatusCmd(e), false}} {
		if got := c.cmd.Annotations[onHangup]; (got == onHangupReload) != c.reload {
			t.Errorf("%s: on SIGHUP %q, want reload %v", c.cmd.Name(), got, c.reload)
		}
	}
}
