package plugins

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chaosctl/chaosctl/plugins/proto/faultpb"
)

// The host's side of the gRPC boundary: GRPCClient is a Fault that calls a
// plugin process.

// GRPCClient is a Fault whose calls go to a plugin process. The caller's
// ctx crosses the boundary (deadline and cancellation); a plugin that is
// gone yields ErrPluginShutdown, a cancelled call ErrCanceled.
type GRPCClient struct{ c faultpb.FaultClient }

var (
	_ Fault    = (*GRPCClient)(nil)
	_ Preparer = (*GRPCClient)(nil)
)

// NewGRPCClient returns a Fault over conn.
func NewGRPCClient(conn grpc.ClientConnInterface) *GRPCClient {
	return &GRPCClient{c: faultpb.NewFaultClient(conn)}
}

func (c *GRPCClient) Describe(ctx context.Context) (Descriptor, error) {
	d, err := c.c.Describe(ctx, &faultpb.DescribeRequest{})
	if err != nil {
		return Descriptor{}, fromStatus(ctx, err)
	}
	return fromDescriptor(d)
}

func (c *GRPCClient) Validate(ctx context.Context, action string, params, selector Params) error {
	p, s, err := toMaps(params, selector)
	if err != nil {
		return err
	}
	_, err = c.c.Validate(ctx, &faultpb.ValidateRequest{Action: action, Params: p, Selector: s})
	return fromStatus(ctx, err)
}

func (c *GRPCClient) Targets(ctx context.Context, action string, params, selector Params) ([]Target, error) {
	p, s, err := toMaps(params, selector)
	if err != nil {
		return nil, err
	}
	resp, err := c.c.Targets(ctx, &faultpb.TargetsRequest{Action: action, Params: p, Selector: s})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	out := make([]Target, 0, len(resp.GetTargets()))
	for _, t := range resp.GetTargets() {
		out = append(out, fromTarget(t))
	}
	return out, nil
}

func toInjectRequest(req InjectRequest) (*faultpb.InjectRequest, error) {
	p, err := toMap(req.Params)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidParams, err)
	}
	return &faultpb.InjectRequest{
		Action: req.Action, Params: p, Target: toTarget(req.Target), DurationNanos: int64(req.Duration),
		Prepared: req.Prepared,
	}, nil
}

// Prepare asks the plugin for the revert data of req before injecting. A
// plugin that does not prepare answers nil, nil.
func (c *GRPCClient) Prepare(ctx context.Context, req InjectRequest) ([]byte, error) {
	pr, err := toInjectRequest(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.c.Prepare(ctx, pr)
	if status.Code(err) == codes.Unimplemented {
		return nil, nil
	}
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return resp.GetRevertData(), nil
}

func (c *GRPCClient) Inject(ctx context.Context, req InjectRequest) ([]byte, error) {
	pr, err := toInjectRequest(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.c.Inject(ctx, pr)
	if err != nil {
		// A partial injection sends back the revert data of what was done.
		var rd []byte
		if st, ok := status.FromError(err); ok {
			if d := detail(st); d != nil {
				rd = d.GetRevertData()
			}
		}
		return rd, fromStatus(ctx, err)
	}
	return resp.GetRevertData(), nil
}

func (c *GRPCClient) Revert(ctx context.Context, action string, revertData []byte) error {
	_, err := c.c.Revert(ctx, &faultpb.RevertRequest{Action: action, RevertData: revertData})
	return fromStatus(ctx, err)
}

// Status asks the plugin whether the fault is in effect. A plugin that
// cannot tell (codes.Unimplemented: a server built on
// faultpb.UnimplementedFaultServer without Status, or one whose Status
// returned an error wrapping ErrUnimplemented) yields ErrUnimplemented.
func (c *GRPCClient) Status(ctx context.Context, action string, revertData []byte) (Status, error) {
	resp, err := c.c.Status(ctx, &faultpb.RevertRequest{Action: action, RevertData: revertData})
	if err != nil {
		rerr := fromStatus(ctx, err)
		if status.Code(err) == codes.Unimplemented && !errors.Is(rerr, ErrUnimplemented) {
			rerr = fmt.Errorf("status: %w: %w", ErrUnimplemented, rerr)
		}
		return Status{}, rerr
	}
	return Status{Active: resp.GetActive(), Detail: resp.GetDetail(), Lasting: resp.GetLasting()}, nil
}

func toMaps(params, selector Params) (*faultpb.MapValue, *faultpb.MapValue, error) {
	p, err := toMap(params)
	if err != nil {
		return nil, nil, &ValidationError{Field: "params", Msg: err.Error()}
	}
	s, err := toMap(selector)
	if err != nil {
		return nil, nil, &ValidationError{Field: "target", Msg: err.Error()}
	}
	return p, s, nil
}
