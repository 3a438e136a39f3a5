package plugins

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/chaosctl/chaosctl/plugins/proto/faultpb"
)

// ProbeClient is a ProbePlugin whose calls go to a plugin process. The
// caller's ctx crosses the boundary; a plugin that is gone yields
// ErrPluginShutdown, a cancelled call ErrCanceled.
type ProbeClient struct{ c faultpb.ProbeClient }

var _ ProbePlugin = (*ProbeClient)(nil)

// NewProbeClient returns a ProbePlugin over conn.
func NewProbeClient(conn grpc.ClientConnInterface) *ProbeClient {
	return &ProbeClient{c: faultpb.NewProbeClient(conn)}
}

func (c *ProbeClient) Describe(ctx context.Context) (ProbeDescriptor, error) {
	d, err := c.c.Describe(ctx, &faultpb.DescribeRequest{})
	if err != nil {
		return ProbeDescriptor{}, fromStatus(ctx, err)
	}
	out := ProbeDescriptor{Name: d.GetName(), Version: d.GetVersion(), Doc: d.GetDoc()}
	for _, k := range d.GetKinds() {
		keys, err := fromParams(k.GetKeys())
		if err != nil {
			return ProbeDescriptor{}, fmt.Errorf("probe kind %s: %w", k.GetName(), err)
		}
		out.Kinds = append(out.Kinds, ProbeKind{Name: k.GetName(), Doc: k.GetDoc(), Keys: keys})
	}
	return out, nil
}

func (c *ProbeClient) Validate(ctx context.Context, kind string, spec Params) error {
	m, err := toMap(spec)
	if err != nil {
		return &ValidationError{Field: "spec", Msg: err.Error()}
	}
	_, err = c.c.Validate(ctx, &faultpb.ProbeRequest{Kind: kind, Spec: m})
	return fromStatus(ctx, err)
}

func (c *ProbeClient) Sample(ctx context.Context, req SampleRequest) (ProbeSample, error) {
	m, err := toMap(req.Spec)
	if err != nil {
		return ProbeSample{}, &ValidationError{Field: "spec", Msg: err.Error()}
	}
	resp, err := c.c.Sample(ctx, &faultpb.ProbeRequest{Kind: req.Kind, Spec: m, Probe: req.Probe})
	if err != nil {
		return ProbeSample{}, fromStatus(ctx, err)
	}
	return ProbeSample{
		OK: resp.GetOk(), Latency: time.Duration(resp.GetLatencyNanos()), Value: resp.GetValue(), Err: resp.GetError(),
	}, nil
}
