// Package latency is the "latency" fault plugin: it slows, shapes, drops or
// cuts network traffic, in one of two modes.
//
//   - netem: a netem root qdisc on a container's interface, added with tc
//     inside the container's network namespace (nsenter --net=/proc/PID/ns/net).
//     Needs the kernel's sch_netem module; the plugin checks for it once at
//     start and says so plainly when it is missing.
//   - proxy: toxics on a standing `chaosctl proxy` (package tcpproxy) that
//     the traffic already flows through; the fault's target names the
//     proxy's control address. The HTTP actions (http_abort, http_delay,
//     http_header; http.go) are proxy only.
//
// A delay that cannot be applied is an error: nothing is ever faked.
package latency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/plugins"
)

// Modes.
const (
	ModeAuto  = "auto"
	ModeNetem = "netem"
	ModeProxy = "proxy"
)

// Fault implements the "latency" plugin.
type Fault struct {
	engine dockerengine.Lazy
}

var (
	_ plugins.Fault    = (*Fault)(nil)
	_ plugins.Preparer = (*Fault)(nil)
)

// New returns the latency fault and starts the netem check.
func New() *Fault {
	go func() { _ = NetemSupport() }() // at plugin start; the answer is cached
	return &Fault{engine: dockerengine.Lazy{Connect: dockerengine.Connect}}
}

func (f *Fault) eng(ctx context.Context) (dockerengine.Engine, error) { return f.engine.Get(ctx) }

// Close releases the Engine connection.
func (f *Fault) Close() error { return f.engine.Close() }

func fieldError(field, msg string) error { return &plugins.ValidationError{Field: field, Msg: msg} }

var modeParam = plugins.Param{Name: "mode", Type: plugins.TypeString, Default: ModeAuto, Enum: []string{ModeAuto, ModeNetem, ModeProxy},
	Doc: "netem (kernel qdisc in the container's netns), proxy (toxic on a chaosctl proxy) or auto (netem when the kernel has it and a container is targeted, else proxy)"}

func selector() []plugins.Param {
	return append(dockerengine.SelectorSchema(), plugins.Param{Name: "proxy", Type: plugins.TypeString,
		Doc: "proxy mode: control address of a running `chaosctl proxy` (host:port or unix:/path)"})
}

// Describe lists the actions.
func (*Fault) Describe(context.Context) (plugins.Descriptor, error) {
	return plugins.Descriptor{
		Name: "latency", Version: "1",
		Doc: "Delay, shape, black-hole or reset network traffic: netem in a container's network namespace, " +
			"or toxics on a chaosctl proxy, which can also abort, delay or rewrite HTTP/1.1 requests. Whether the kernel has netem is checked at start; asking for it without is a preflight error.",
		Actions: append([]plugins.Action{
			{
				Name: "delay", Reversible: true, Selector: selector(),
				Doc: "add delay (with jitter), loss, corruption or a rate cap for the fault's duration",
				Params: []plugins.Param{
					modeParam,
					{Name: "delay", Type: plugins.TypeDuration, Doc: "added latency (one way: egress for netem, the chosen direction for the proxy)"},
					{Name: "jitter", Type: plugins.TypeDuration, Doc: "random variation, +-; at most the delay"},
					{Name: "loss", Type: plugins.TypeFloat, Min: new(0.0), Max: new(100.0), Doc: "netem only: percent of packets dropped"},
					{Name: "corrupt", Type: plugins.TypeFloat, Min: new(0.0), Max: new(100.0), Doc: "netem only: percent of packets corrupted"},
					{Name: "rate", Type: plugins.TypeString, Doc: "bandwidth cap, tc syntax: \"1mbit\", \"500kbit\", \"2mbps\""},
					{Name: "direction", Type: plugins.TypeString, Default: "downstream", Enum: []string{"upstream", "downstream", "both"}, Doc: "proxy only: upstream (client to server), downstream (responses) or both"},
					{Name: "device", Type: plugins.TypeString, Default: "eth0", Doc: "netem only: interface inside the container"},
				},
			},
			{
				Name: "blackhole", Reversible: true, Selector: selector(),
				Doc: "proxy only: swallow the traffic (connections stay open, nothing arrives) for the fault's duration",
				Params: []plugins.Param{
					{Name: "mode", Type: plugins.TypeString, Default: ModeProxy, Enum: []string{ModeAuto, ModeProxy}, Doc: "proxy (the only mode)"},
					{Name: "direction", Type: plugins.TypeString, Default: "both", Enum: []string{"upstream", "downstream", "both"}, Doc: "which traffic is swallowed"},
				},
			},
			{
				Name: "reset", Reversible: true, Selector: selector(),
				Doc: "proxy only: reset every connection, and each new one, for the fault's duration",
				Params: []plugins.Param{
					{Name: "mode", Type: plugins.TypeString, Default: ModeProxy, Enum: []string{ModeAuto, ModeProxy}, Doc: "proxy (the only mode)"},
				},
			},
		}, httpActions()...),
	}, nil
}

// spec reads the netem-style parameters.
func spec(params plugins.Params) (NetemSpec, []error) {
	var s NetemSpec
	var errs []error
	dur := func(k string) time.Duration {
		v, ok := params[k]
		if !ok {
			return 0
		}
		str, _ := v.(string)
		d, err := time.ParseDuration(str)
		if err != nil {
			errs = append(errs, fieldError("params."+k, fmt.Sprintf("not a duration: %v", v)))
		}
		return d
	}
	num := func(k string) float64 {
		switch x := params[k].(type) {
		case float64:
			return x
		case int64:
			return float64(x)
		}
		return 0
	}
	s.Delay, s.Jitter = dur("delay"), dur("jitter")
	s.Loss, s.Corrupt = num("loss"), num("corrupt")
	s.Rate, _ = params["rate"].(string)
	return s, errs
}

func str(p plugins.Params, k, def string) string {
	if v, ok := p[k].(string); ok && v != "" {
		return v
	}
	return def
}

// mode decides the mode. netemErr is the kernel check (nil: available).
func mode(action string, params, sel plugins.Params, netemErr error) (string, error) {
	m := str(params, "mode", ModeAuto)
	_, hasProxy := sel["proxy"]
	if action != "delay" {
		m = ModeProxy
	}
	if m == ModeAuto {
		switch {
		case dockerengine.SelectsContainers(sel) && netemErr == nil:
			m = ModeNetem
		case hasProxy:
			m = ModeProxy
		default:
			m = ModeNetem
		}
	}
	switch m {
	case ModeProxy:
		if !hasProxy {
			return "", fieldError("target.proxy", "proxy mode needs the control address of a running `chaosctl proxy`")
		}
	case ModeNetem:
		if !dockerengine.SelectsContainers(sel) {
			return "", fieldError("target", "netem mode needs a container selector (name, labels, ...)")
		}
		if netemErr != nil {
			return "", netemErr
		}
	}
	return m, nil
}

// Validate checks parameters and selector without touching the machine
// (whether the kernel has netem is checked at preflight, by Targets).
func (*Fault) Validate(_ context.Context, action string, params, sel plugins.Params) error {
	switch action {
	case "delay", "blackhole", "reset":
	default:
		if !isHTTPAction(action) {
			return fmt.Errorf("%w %q", plugins.ErrUnknownAction, action)
		}
	}
	var errs []error
	_, hasProxy := sel["proxy"]
	if dockerengine.SelectsContainers(sel) {
		errs = append(errs, dockerengine.CheckSelector(sel)...)
	}
	if !hasProxy && !dockerengine.SelectsContainers(sel) {
		errs = append(errs, fieldError("target", "give proxy (a chaosctl proxy's control address) or a container selector"))
	}
	m := str(params, "mode", ModeAuto)
	if action != "delay" && m == ModeNetem {
		errs = append(errs, fieldError("params.mode", action+" is done by the proxy only"))
	}
	if action != "delay" && !hasProxy {
		errs = append(errs, fieldError("target.proxy", action+" needs the control address of a running `chaosctl proxy`"))
	}
	if isHTTPAction(action) {
		_, herrs := httpToxic(action, params, "check")
		errs = append(errs, herrs...)
	}
	if action == "delay" {
		s, perrs := spec(params)
		errs = append(errs, perrs...)
		if len(perrs) == 0 {
			errs = append(errs, s.Check()...)
		}
		if m == ModeProxy || (m == ModeAuto && !dockerengine.SelectsContainers(sel)) {
			if s.Loss > 0 || s.Corrupt > 0 {
				errs = append(errs, fieldError("params.loss", "loss and corrupt need mode = \"netem\": a TCP proxy cannot drop or corrupt segments (use blackhole or reset)"))
			}
		}
		if m == ModeNetem && !dockerengine.SelectsContainers(sel) {
			errs = append(errs, fieldError("target", "netem mode needs a container selector (name, labels, ...)"))
		}
	}
	return errors.Join(errs...)
}

// Targets resolves the selector: containers (netem) or the proxy (proxy).
// It is where a missing netem is reported, before anything is injected.
func (f *Fault) Targets(ctx context.Context, action string, params, sel plugins.Params) ([]plugins.Target, error) {
	m, err := mode(action, params, sel, NetemSupport())
	if err != nil {
		return nil, err
	}
	if m == ModeProxy {
		t, err := proxyTarget(ctx, str(sel, "proxy", ""))
		if err != nil {
			return nil, err
		}
		return []plugins.Target{t}, nil
	}
	e, err := f.eng(ctx)
	if err != nil {
		return nil, err
	}
	return dockerengine.Targets(ctx, e, sel)
}

// revertData is one injection's undo record.
type revertData struct {
	Mode  string     `json:"mode"`
	Netem *netemData `json:"netem,omitempty"`
	Proxy *proxyData `json:"proxy,omitempty"`
}

// Prepare names what Inject will add before it adds anything: the proxy's
// toxic ids, or the container's network namespace and chaosctl's qdisc
// handle. Reverting it when nothing was added removes nothing.
func (f *Fault) Prepare(ctx context.Context, req plugins.InjectRequest) ([]byte, error) {
	if req.Target.Kind == "proxy" {
		pd, err := prepareProxy(req)
		if err != nil {
			return nil, err
		}
		return json.Marshal(revertData{Mode: ModeProxy, Proxy: pd})
	}
	if err := NetemSupport(); err != nil {
		return nil, err
	}
	d, err := f.netemTarget(ctx, req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(revertData{Mode: ModeNetem, Netem: d})
}

// Inject applies the fault to one target.
func (f *Fault) Inject(ctx context.Context, req plugins.InjectRequest) ([]byte, error) {
	var prepared revertData
	if len(req.Prepared) > 0 {
		if err := json.Unmarshal(req.Prepared, &prepared); err != nil {
			return nil, fmt.Errorf("prepared revert data: %w", err)
		}
	}
	if req.Target.Kind == "proxy" {
		pd, err := injectProxy(ctx, req, prepared.Proxy)
		if pd == nil {
			return nil, err
		}
		b, merr := json.Marshal(revertData{Mode: ModeProxy, Proxy: pd})
		return b, errors.Join(err, merr)
	}
	if err := NetemSupport(); err != nil {
		return nil, err
	}
	s, errs := spec(req.Params)
	errs = append(errs, s.Check()...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	d := prepared.Netem
	if d == nil {
		var err error
		if d, err = f.netemTarget(ctx, req); err != nil {
			return nil, err
		}
	}
	if ino, err := netnsInode(d.Pid); err != nil || ino != d.NetNS {
		return nil, fmt.Errorf("container %s was restarted since it was selected", d.Name)
	}
	if err := injectNetem(ctx, d.Pid, d.Device, s); err != nil {
		return nil, fmt.Errorf("netem on %s: %w", d.Name, err)
	}
	return json.Marshal(revertData{Mode: ModeNetem, Netem: d})
}

// netemTarget identifies the container's network namespace exactly.
func (f *Fault) netemTarget(ctx context.Context, req plugins.InjectRequest) (*netemData, error) {
	c, err := dockerengine.InspectTarget(ctx, &f.engine, req.Target)
	if err != nil {
		return nil, err
	}
	if !c.Running || c.Pid <= 0 {
		return nil, fmt.Errorf("container %s is %s, not running", c.Name, c.State)
	}
	if err := dockerengine.OwnPid(c); err != nil {
		return nil, err
	}
	ino, err := netnsInode(c.Pid)
	if err != nil {
		return nil, fmt.Errorf("network namespace of %s: %w", c.Name, err)
	}
	// A container on the host's network (or sharing chaosctl's) would put
	// the delay on the host's own interfaces.
	for _, pid := range []int{1, os.Getpid()} {
		if host, err := netnsInode(pid); err == nil && host == ino {
			return nil, fmt.Errorf("container %s shares the host's network namespace: netem there would delay the host itself; use mode = \"proxy\"", c.Name)
		}
	}
	return &netemData{ContainerID: c.ID, Name: c.Name, Pid: c.Pid, NetNS: ino, Device: str(req.Params, "device", "eth0"), Handle: Handle}, nil
}

// Revert removes what Inject added, and only that.
func (f *Fault) Revert(ctx context.Context, _ string, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	var rd revertData
	if err := json.Unmarshal(data, &rd); err != nil {
		return fmt.Errorf("revert data: %w", err)
	}
	switch {
	case rd.Proxy != nil:
		return revertProxy(ctx, *rd.Proxy)
	case rd.Netem != nil:
		if err := revertNetem(ctx, *rd.Netem); err != nil {
			return fmt.Errorf("revert netem on %s: %w", rd.Netem.Name, err)
		}
	}
	return nil
}

// Status says whether the fault is still in effect: for netem, whether
// the device's root qdisc has chaosctl's handle; for the proxy, whether
// the proxy lists the injection's toxics.
func (f *Fault) Status(ctx context.Context, _ string, data []byte) (plugins.Status, error) {
	var rd revertData
	if err := json.Unmarshal(data, &rd); err != nil {
		return plugins.Status{}, fmt.Errorf("revert data: %w", err)
	}
	switch {
	case rd.Proxy != nil:
		return proxyStatus(ctx, *rd.Proxy)
	case rd.Netem != nil:
		return netemStatus(ctx, *rd.Netem)
	}
	return plugins.Status{}, nil
}
