package plugins

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/chaosctl/chaosctl/plugins/proto/faultpb"
)

// fakeProbe is a probe plugin whose Sample waits for its context when
// the spec says hang.
type fakeProbe struct{}

func (fakeProbe) Describe(context.Context) (ProbeDescriptor, error) {
	return ProbeDescriptor{Name: "q", Version: "1", Kinds: []ProbeKind{{Name: "depth", Keys: []Param{
		{Name: "max", Type: TypeInt, Default: int64(10)},
	}}}}, nil
}

func (fakeProbe) Validate(_ context.Context, _ string, spec Params) error {
	if _, ok := spec["max"].(int64); !ok {
		return errors.Join(&ValidationError{Field: "max", Msg: "want an integer"}, &ValidationError{Field: "queue", Msg: "required"})
	}
	return nil
}

func (fakeProbe) Sample(ctx context.Context, req SampleRequest) (ProbeSample, error) {
	if req.Spec["hang"] == true {
		<-ctx.Done()
		return ProbeSample{}, ctx.Err()
	}
	return ProbeSample{OK: req.Spec["max"].(int64) > 3, Value: 3, Latency: time.Millisecond, Err: req.Probe}, nil
}

func serveProbe(t *testing.T, impl ProbePlugin) *ProbeClient {
	t.Helper()
	l := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	faultpb.RegisterProbeServer(s, &probeServer{impl: impl})
	go func() { _ = s.Serve(l) }()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return l.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(); s.Stop() })
	return NewProbeClient(conn)
}

func TestProbeOverGRPC(t *testing.T) {
	c := serveProbe(t, fakeProbe{})
	ctx := context.Background()
	d, err := c.Describe(ctx)
	if err != nil || len(d.Kinds) != 1 || d.Kinds[0].Keys[0].Default != int64(10) {
		t.Fatalf("describe: %+v %v", d, err)
	}
	if _, ok := d.Kind("depth"); !ok {
		t.Fatal("kind depth not found")
	}
	err = c.Validate(ctx, "depth", Params{"max": "x"})
	var ve *ValidationError
	if !errors.Is(err, ErrInvalidParams) || !errors.As(err, &ve) || ve.Field != "max" {
		t.Fatalf("validate: %v", err)
	}
	s, err := c.Sample(ctx, SampleRequest{Kind: "depth", Probe: "p", Spec: Params{"max": int64(5)}})
	if err != nil || !s.OK || s.Value != 3 || s.Latency != time.Millisecond || s.Err != "p" {
		t.Fatalf("sample: %+v %v", s, err)
	}
}

// The caller's deadline crosses the boundary: a hung Sample returns at it.
func TestProbeSampleDeadlineCrosses(t *testing.T) {
	c := serveProbe(t, fakeProbe{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Sample(ctx, SampleRequest{Kind: "depth", Spec: Params{"hang": true}})
	if !errors.Is(err, ErrCanceled) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung sample: %v", err)
	}
}
