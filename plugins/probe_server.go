package plugins

import (
	"context"

	"github.com/chaosctl/chaosctl/plugins/proto/faultpb"
)

// The plugin's side of the probe boundary: probeServer serves a
// ProbePlugin to the host.

type probeServer struct {
	faultpb.UnimplementedProbeServer
	impl ProbePlugin
}

func (s *probeServer) Describe(ctx context.Context, _ *faultpb.DescribeRequest) (*faultpb.ProbeDescriptor, error) {
	d, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, toStatus(ctx, err, nil)
	}
	out := &faultpb.ProbeDescriptor{Name: d.Name, Version: d.Version, Doc: d.Doc}
	for _, k := range d.Kinds {
		keys, err := toParams(k.Keys)
		if err != nil {
			return nil, toStatus(ctx, err, nil)
		}
		out.Kinds = append(out.Kinds, &faultpb.ProbeKind{Name: k.Name, Doc: k.Doc, Keys: keys})
	}
	return out, nil
}

func (s *probeServer) Validate(ctx context.Context, req *faultpb.ProbeRequest) (*faultpb.Empty, error) {
	spec, err := fromMap(req.GetSpec())
	if err == nil {
		err = s.impl.Validate(ctx, req.GetKind(), spec)
	} else {
		err = &ValidationError{Field: "spec", Msg: err.Error()}
	}
	if err != nil {
		return nil, toStatus(ctx, err, nil)
	}
	return &faultpb.Empty{}, nil
}

func (s *probeServer) Sample(ctx context.Context, req *faultpb.ProbeRequest) (*faultpb.SampleResponse, error) {
	spec, err := fromMap(req.GetSpec())
	if err != nil {
		return nil, toStatus(ctx, &ValidationError{Field: "spec", Msg: err.Error()}, nil)
	}
	smp, err := s.impl.Sample(ctx, SampleRequest{Kind: req.GetKind(), Probe: req.GetProbe(), Spec: spec})
	if err != nil {
		return nil, toStatus(ctx, err, nil)
	}
	return &faultpb.SampleResponse{Ok: smp.OK, LatencyNanos: int64(smp.Latency), Value: smp.Value, Error: smp.Err}, nil
}
