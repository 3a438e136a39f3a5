package latency

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/plugins/latency/tcpproxy"
)

// proxyData is the proxy revert data: the control address and the toxics
// this injection added (removed one by one on revert).
type proxyData struct {
	Control string   `json:"control"`
	Base    string   `json:"base,omitempty"` // the toxics' id prefix
	Toxics  []string `json:"toxics"`
}

// proxyTarget checks that a chaosctl proxy answers at control.
func proxyTarget(ctx context.Context, control string) (plugins.Target, error) {
	st, err := tcpproxy.NewClient(control).Status(ctx)
	if err != nil {
		return plugins.Target{}, fmt.Errorf("proxy mode: %w (start one with `chaosctl proxy --listen ... --upstream ... --control %s`)", err, control)
	}
	return plugins.Target{Kind: "proxy", ID: control, Name: st.Listen + "->" + st.Upstream,
		Attrs: map[string]string{"listen": st.Listen, "upstream": st.Upstream}}, nil
}

func newID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "chaosctl-" + hex.EncodeToString(b)
}

// proxyToxics turns the action and its parameters into toxics.
// Their ids start with base, so that prepared revert data can name them
// before they exist.
func proxyToxics(action string, params plugins.Params, base string) ([]tcpproxy.Toxic, error) {
	switch action {
	case "blackhole":
		return []tcpproxy.Toxic{{ID: base, Kind: tcpproxy.KindBlackhole, Direction: str(params, "direction", tcpproxy.Both)}}, nil
	case "reset":
		return []tcpproxy.Toxic{{ID: base, Kind: tcpproxy.KindReset, Direction: tcpproxy.Both}}, nil
	}
	if isHTTPAction(action) {
		t, errs := httpToxic(action, params, base)
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return []tcpproxy.Toxic{t}, nil
	}
	s, errs := spec(params)
	errs = append(errs, s.Check()...)
	if s.Loss > 0 || s.Corrupt > 0 {
		errs = append(errs, fieldError("params.loss", "loss and corrupt need mode = \"netem\""))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	dir := str(params, "direction", tcpproxy.Downstream)
	var out []tcpproxy.Toxic
	if s.Delay > 0 {
		out = append(out, tcpproxy.Toxic{ID: base + "-latency", Kind: tcpproxy.KindLatency, Direction: dir, Delay: s.Delay, Jitter: s.Jitter})
	}
	if s.Rate != "" {
		r, err := plugins.ParseRate(s.Rate)
		if err != nil {
			return nil, fieldError("params.rate", err.Error())
		}
		out = append(out, tcpproxy.Toxic{ID: base + "-bandwidth", Kind: tcpproxy.KindBandwidth, Direction: dir, Rate: r})
	}
	return out, nil
}

// injectProxy adds the toxics. When one fails after another was added, or
// a call may have reached the proxy without an answer, the revert data
// lists every toxic of the injection: removing one that was never added is
// a no-op.
func injectProxy(ctx context.Context, req plugins.InjectRequest, prepared *proxyData) (*proxyData, error) {
	if prepared == nil {
		var err error
		if prepared, err = prepareProxy(req); err != nil {
			return nil, err
		}
	}
	toxics, err := proxyToxics(req.Action, req.Params, prepared.Base)
	if err != nil {
		return nil, err
	}
	cl := tcpproxy.NewClient(req.Target.ID)
	for i, t := range toxics {
		if err := cl.Add(ctx, t); err != nil {
			if i == 0 && ctx.Err() == nil && !errors.Is(err, tcpproxy.ErrProxyGone) {
				// The proxy answered no to the first toxic: nothing was added.
				return nil, fmt.Errorf("add %s toxic: %w", t.Kind, err)
			}
			return prepared, fmt.Errorf("add %s toxic: %w", t.Kind, err)
		}
	}
	return prepared, nil
}

// prepareProxy names the toxics an injection will add, before adding any.
func prepareProxy(req plugins.InjectRequest) (*proxyData, error) {
	pd := &proxyData{Control: req.Target.ID, Base: newID()}
	toxics, err := proxyToxics(req.Action, req.Params, pd.Base)
	if err != nil {
		return nil, err
	}
	for _, t := range toxics {
		pd.Toxics = append(pd.Toxics, t.ID)
	}
	return pd, nil
}

// revertProxy removes the toxics. A toxic or a proxy that is gone needs
// nothing (a proxy's toxics die with it).
func revertProxy(ctx context.Context, pd proxyData) error {
	cl := tcpproxy.NewClient(pd.Control)
	var errs []error
	for _, id := range pd.Toxics {
		err := cl.Remove(ctx, id)
		switch {
		case err == nil, errors.Is(err, tcpproxy.ErrNoToxic):
		case errors.Is(err, tcpproxy.ErrProxyGone):
			return nil
		default:
			errs = append(errs, fmt.Errorf("remove toxic %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// proxyStatus asks the proxy which toxics it applies: the fault holds
// while any of this injection's is listed (one left after a revert is a
// revert that failed).
func proxyStatus(ctx context.Context, pd proxyData) (plugins.Status, error) {
	st, err := tcpproxy.NewClient(pd.Control).Status(ctx)
	if errors.Is(err, tcpproxy.ErrProxyGone) {
		return plugins.Status{Detail: fmt.Sprintf("proxy at %s is gone, and its toxics with it", pd.Control)}, nil
	}
	if err != nil {
		return plugins.Status{}, fmt.Errorf("status of proxy %s: %w", pd.Control, err)
	}
	var listed []string
	for _, t := range st.Toxics {
		for _, id := range pd.Toxics {
			if t.ID == id {
				listed = append(listed, describeToxic(t))
			}
		}
	}
	detail := fmt.Sprintf("%d of %d toxics listed by proxy %s (%s -> %s)", len(listed), len(pd.Toxics), pd.Control, st.Listen, st.Upstream)
	if len(listed) > 0 {
		detail += ": " + strings.Join(listed, ", ")
	}
	return plugins.Status{Active: len(listed) > 0, Detail: detail}, nil
}

// describeToxic is a toxic as the proxy reports it: "latency 300ms±10ms
// downstream".
func describeToxic(t tcpproxy.Toxic) string {
	if tcpproxy.IsHTTP(t.Kind) {
		return describeHTTP(t)
	}
	s := t.Kind
	switch {
	case t.Delay > 0 && t.Jitter > 0:
		s += fmt.Sprintf(" %s±%s", t.Delay, t.Jitter)
	case t.Delay > 0:
		s += " " + t.Delay.String()
	}
	if t.Rate > 0 {
		s += fmt.Sprintf(" %d B/s", t.Rate)
	}
	return s + " " + t.Direction
}
