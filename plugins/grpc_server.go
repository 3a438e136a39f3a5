package plugins

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chaosctl/chaosctl/plugins/proto/faultpb"
)

// The plugin's side of the gRPC boundary: grpcServer serves a Fault to the
// host.

type grpcServer struct {
	faultpb.UnimplementedFaultServer
	impl Fault
}

func (s *grpcServer) Describe(ctx context.Context, _ *faultpb.DescribeRequest) (*faultpb.Descriptor, error) {
	d, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, toStatus(ctx, err, nil)
	}
	out, err := toDescriptor(d)
	if err != nil {
		return nil, toStatus(ctx, err, nil)
	}
	return out, nil
}

func (s *grpcServer) Validate(ctx context.Context, req *faultpb.ValidateRequest) (*faultpb.Empty, error) {
	p, sel, err := fromMaps(req.GetParams(), req.GetSelector())
	if err == nil {
		err = s.impl.Validate(ctx, req.GetAction(), p, sel)
	}
	if err != nil {
		return nil, toStatus(ctx, err, nil)
	}
	return &faultpb.Empty{}, nil
}

func (s *grpcServer) Targets(ctx context.Context, req *faultpb.TargetsRequest) (*faultpb.TargetsResponse, error) {
	p, sel, err := fromMaps(req.GetParams(), req.GetSelector())
	if err != nil {
		return nil, toStatus(ctx, err, nil)
	}
	ts, err := s.impl.Targets(ctx, req.GetAction(), p, sel)
	if err != nil {
		return nil, toStatus(ctx, err, nil)
	}
	out := &faultpb.TargetsResponse{}
	for _, t := range ts {
		out.Targets = append(out.Targets, toTarget(t))
	}
	return out, nil
}

func fromInjectRequest(req *faultpb.InjectRequest) (InjectRequest, error) {
	p, err := fromMap(req.GetParams())
	if err != nil {
		return InjectRequest{}, &ValidationError{Field: "params", Msg: err.Error()}
	}
	return InjectRequest{
		Action: req.GetAction(), Params: p, Target: fromTarget(req.GetTarget()),
		Duration: time.Duration(req.GetDurationNanos()), Prepared: req.GetPrepared(),
	}, nil
}

func (s *grpcServer) Prepare(ctx context.Context, req *faultpb.InjectRequest) (*faultpb.InjectResponse, error) {
	pr, ok := s.impl.(Preparer)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this plugin does not prepare revert data")
	}
	in, err := fromInjectRequest(req)
	if err != nil {
		return nil, toStatus(ctx, err, nil)
	}
	rd, err := pr.Prepare(ctx, in)
	if err != nil {
		return nil, toStatus(ctx, err, nil)
	}
	return &faultpb.InjectResponse{RevertData: rd}, nil
}

func (s *grpcServer) Inject(ctx context.Context, req *faultpb.InjectRequest) (*faultpb.InjectResponse, error) {
	in, err := fromInjectRequest(req)
	if err != nil {
		return nil, toStatus(ctx, err, nil)
	}
	rd, err := s.impl.Inject(ctx, in)
	if err != nil {
		return nil, toStatus(ctx, err, rd)
	}
	return &faultpb.InjectResponse{RevertData: rd}, nil
}

func (s *grpcServer) Revert(ctx context.Context, req *faultpb.RevertRequest) (*faultpb.Empty, error) {
	if err := s.impl.Revert(ctx, req.GetAction(), req.GetRevertData()); err != nil {
		return nil, toStatus(ctx, err, nil)
	}
	return &faultpb.Empty{}, nil
}

func (s *grpcServer) Status(ctx context.Context, req *faultpb.RevertRequest) (*faultpb.StatusResponse, error) {
	st, err := s.impl.Status(ctx, req.GetAction(), req.GetRevertData())
	if err != nil {
		return nil, toStatus(ctx, err, nil)
	}
	return &faultpb.StatusResponse{Active: st.Active, Detail: st.Detail, Lasting: st.Lasting}, nil
}

func fromMaps(params, selector *faultpb.MapValue) (Params, Params, error) {
	p, err := fromMap(params)
	if err != nil {
		return nil, nil, &ValidationError{Field: "params", Msg: err.Error()}
	}
	s, err := fromMap(selector)
	if err != nil {
		return nil, nil, &ValidationError{Field: "target", Msg: err.Error()}
	}
	return p, s, nil
}
