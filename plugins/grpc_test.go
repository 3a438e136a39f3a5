package plugins

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/chaosctl/chaosctl/plugins/proto/faultpb"
)

// serveGRPC runs srv on a real gRPC server over an in-memory listener and
// returns the host's side of it.
func serveGRPC(t *testing.T, srv faultpb.FaultServer) *GRPCClient {
	t.Helper()
	l := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	faultpb.RegisterFaultServer(s, srv)
	go func() { _ = s.Serve(l) }()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return l.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(); s.Stop() })
	return NewGRPCClient(conn)
}

// withoutStatus is a third-party plugin's server that never wrote Status:
// the generated UnimplementedFaultServer answers codes.Unimplemented.
type withoutStatus struct {
	faultpb.UnimplementedFaultServer
}

// statusFault is a Fault whose Status answers st, err; nothing else is called.
type statusFault struct {
	Fault
	st  Status
	err error
}

func (f statusFault) Status(context.Context, string, []byte) (Status, error) { return f.st, f.err }

func TestStatusUnimplementedCrossesTheBoundary(t *testing.T) {
	for _, tc := range []struct {
		name          string
		srv           faultpb.FaultServer
		want          Status
		unimplemented bool
		msg           string // in the error, "" for no error
	}{
		{"server without Status", withoutStatus{}, Status{}, true, "method Status not implemented"},
		{"Status wraps ErrUnimplemented", &grpcServer{impl: statusFault{err: fmt.Errorf("cannot see the target from here: %w", ErrUnimplemented)}},
			Status{}, true, "cannot see the target from here"},
		{"another error", &grpcServer{impl: statusFault{err: errors.New("inspect failed")}}, Status{}, false, "inspect failed"},
		{"an answer", &grpcServer{impl: statusFault{st: Status{Active: true, Detail: "stopped (state T)"}}},
			Status{Active: true, Detail: "stopped (state T)"}, false, ""},
		{"a lasting effect", &grpcServer{impl: statusFault{st: Status{Active: true, Detail: "container api-1 is exited", Lasting: true}}},
			Status{Active: true, Detail: "container api-1 is exited", Lasting: true}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := serveGRPC(t, tc.srv).Status(context.Background(), "pause", []byte(`{}`))
			if got := errors.Is(err, ErrUnimplemented); got != tc.unimplemented {
				t.Fatalf("errors.Is(%v, ErrUnimplemented) = %v, want %v", err, got, tc.unimplemented)
			}
			if tc.msg == "" && err != nil || tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg)) {
				t.Fatalf("error %v, want one saying %q", err, tc.msg)
			}
			if st != tc.want {
				t.Fatalf("status %+v, want %+v", st, tc.want)
			}
		})
	}
}
