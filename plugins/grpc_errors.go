package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chaosctl/chaosctl/plugins/proto/faultpb"
)

// Errors across the boundary: a plugin's error crosses as a gRPC status
// carrying an ErrorDetail and is rebuilt on the host with its sentinels and
// validation errors.

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
