package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chaosctl/chaosctl/plugins/proto/faultpb"
)

// Handshake is what host and plugin must agree on before they talk. Bump
// ProtocolVersion on a breaking change to proto/fault.proto.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "CHAOSCTL_PLUGIN",
	MagicCookieValue: "fault-v1",
}

// PluginName is the one plugin a chaosctl plugin process serves.
const PluginName = "fault"

// PluginMap is the go-plugin plugin set for a host (Impl nil) or, with
// Impl set, a plugin process.
func PluginMap(impl Fault) map[string]goplugin.Plugin {
	return map[string]goplugin.Plugin{PluginName: &GRPCPlugin{Impl: impl}}
}

// GRPCPlugin carries Fault over gRPC for go-plugin.
type GRPCPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	Impl Fault
}

var _ goplugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the plugin's Fault on s.
func (p *GRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	faultpb.RegisterFaultServer(s, &grpcServer{impl: p.Impl})
	return nil
}

// GRPCClient returns a Fault that calls the plugin over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return NewGRPCClient(conn), nil
}

// Serve runs f as a plugin process. It is the whole main of a third-party
// plugin:
//
//	func main() { plugins.Serve(myfault.New()) }
//
// The process exits when its host goes away.
func Serve(f Fault) {
	watchParent()
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         PluginMap(f),
		GRPCServer:      goplugin.DefaultGRPCServer,
	})
}

// watchParent exits the plugin when its host dies, as a second line after
// the host's Pdeathsig (which a plugin launched by other means lacks).
func watchParent() {
	ppid := os.Getppid()
	go func() {
		for range time.Tick(250 * time.Millisecond) {
			if os.Getppid() != ppid {
				os.Exit(3)
			}
		}
	}()
}

// --- client: the host's side ---

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

// --- server: the plugin's side ---

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

// --- errors across the boundary ---

// sentinels are the errors a host can still test with errors.Is after they
// crossed the boundary, by their wire names.
var sentinels = []struct {
	name string
	err  error
}{
	{"unknown_plugin", ErrUnknownPlugin},
	{"unknown_action", ErrUnknownAction},
	{"invalid_params", ErrInvalidParams},
	{"no_targets", ErrNoTargets},
	{"plugin_shutdown", ErrPluginShutdown},
	{"canceled", ErrCanceled},
	{"unimplemented", ErrUnimplemented},
	{"context_canceled", context.Canceled},
	{"deadline_exceeded", context.DeadlineExceeded},
	{"not_exist", os.ErrNotExist},
	{"permission", os.ErrPermission},
}

// toStatus turns a plugin's error into a gRPC status carrying an
// ErrorDetail, so that the host can rebuild it.
func toStatus(ctx context.Context, err error, revertData []byte) error {
	if err == nil {
		return nil
	}
	d := &faultpb.ErrorDetail{Message: err.Error(), RevertData: revertData}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			d.Sentinels = append(d.Sentinels, s.name)
		}
	}
	for _, ve := range violations(err) {
		d.Violations = append(d.Violations, &faultpb.Violation{Field: ve.Field, Message: ve.Msg})
	}
	code := codes.Unknown
	switch {
	case errors.Is(err, context.Canceled) || ctx.Err() == context.Canceled:
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, ErrInvalidParams):
		code = codes.InvalidArgument
	case errors.Is(err, ErrUnknownAction) || errors.Is(err, ErrUnknownPlugin):
		code = codes.NotFound
	case errors.Is(err, ErrNoTargets):
		code = codes.FailedPrecondition
	case errors.Is(err, ErrUnimplemented):
		code = codes.Unimplemented
	}
	st, serr := status.New(code, err.Error()).WithDetails(d)
	if serr != nil {
		return status.Error(code, err.Error())
	}
	return st.Err()
}

// violations collects every *ValidationError in err's tree.
func violations(err error) []*ValidationError {
	var ve *ValidationError
	switch x := err.(type) {
	case *ValidationError:
		return []*ValidationError{x}
	case interface{ Unwrap() []error }:
		var out []*ValidationError
		for _, e := range x.Unwrap() {
			out = append(out, violations(e)...)
		}
		return out
	case interface{ Unwrap() error }:
		return violations(x.Unwrap())
	}
	if errors.As(err, &ve) {
		return []*ValidationError{ve}
	}
	return nil
}

func detail(st *status.Status) *faultpb.ErrorDetail {
	for _, d := range st.Details() {
		if ed, ok := d.(*faultpb.ErrorDetail); ok {
			return ed
		}
	}
	return nil
}

// fromStatus turns a gRPC error back into the plugin's error, at the edge:
// Unavailable is ErrPluginShutdown, Canceled and DeadlineExceeded are
// ErrCanceled (and the context's own error).
func fromStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	d := detail(st)
	switch {
	case st.Code() == codes.Unavailable && d == nil:
		return fmt.Errorf("%w: %s", ErrPluginShutdown, st.Message())
	case (st.Code() == codes.Canceled || st.Code() == codes.DeadlineExceeded) && d == nil:
		cause := context.Canceled
		if st.Code() == codes.DeadlineExceeded {
			cause = context.DeadlineExceeded
		}
		if ctx.Err() != nil {
			cause = ctx.Err()
		}
		return fmt.Errorf("%w: %w", ErrCanceled, cause)
	case d == nil:
		return &RemoteError{Msg: st.Message()}
	}
	re := &RemoteError{Msg: d.GetMessage()}
	for _, name := range d.GetSentinels() {
		for _, s := range sentinels {
			if s.name == name {
				re.sentinels = append(re.sentinels, s.err)
			}
		}
	}
	if st.Code() == codes.Canceled || st.Code() == codes.DeadlineExceeded {
		re.sentinels = append(re.sentinels, ErrCanceled)
	}
	for _, v := range d.GetViolations() {
		re.violations = append(re.violations, &ValidationError{Field: v.GetField(), Msg: v.GetMessage()})
	}
	// An error made only of violations comes back as exactly those, joined
	// the way the plugin joined them.
	if n := len(re.violations); n > 0 {
		vs := make([]error, n)
		for i, v := range re.violations {
			vs[i] = v
		}
		if j := errors.Join(vs...); j.Error() == re.Msg {
			if n == 1 {
				return re.violations[0]
			}
			return j
		}
	}
	return re
}

// RemoteError is an error a plugin returned, rebuilt on the host: its
// message as the plugin wrote it, matching (errors.Is) the sentinels the
// plugin's error matched, and (errors.As) its first validation error.
type RemoteError struct {
	Msg        string
	sentinels  []error
	violations []*ValidationError
}

func (e *RemoteError) Error() string { return e.Msg }

// Is matches the sentinels the plugin's error matched.
func (e *RemoteError) Is(target error) bool {
	for _, s := range e.sentinels {
		if s == target {
			return true
		}
	}
	return false
}

// As finds the plugin's first *ValidationError.
func (e *RemoteError) As(target any) bool {
	if p, ok := target.(**ValidationError); ok && len(e.violations) > 0 {
		*p = e.violations[0]
		return true
	}
	return false
}
