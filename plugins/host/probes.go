package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/probes"
)

// ProbePrefix starts the file name of every third-party probe plugin. The
// file name says which contract a binary serves, so nothing is executed
// to find out, and a plugin is launched only when a scenario names it.
const ProbePrefix = "chaosctl-probe-"

// ErrProbePluginDied is the reason of a sample whose plugin process died.
var ErrProbePluginDied = errors.New("probe plugin died")

var _ probes.Source = (*Catalog)(nil)

// probeNames are the NAMEs of chaosctl-probe-NAME files in Dir, sorted.
func (c *Catalog) probeNames() []string {
	out := c.named(ProbePrefix)
	sort.Strings(out)
	return out
}

// probeRemote returns the probe plugin name, launching it if needed,
// after the same checksum, owner and mode checks as a fault plugin.
func (c *Catalog) probeRemote(ctx context.Context, name string) (*Remote, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	key := "probe/" + name // a fault plugin may have the same name
	r, ok := c.remotes[key]
	if !ok {
		path := filepath.Join(c.cfg.Dir, ProbePrefix+name)
		if c.cfg.Dir == "" || name == "" || strings.ContainsAny(name, `/\`) {
			c.mu.Unlock()
			return nil, fmt.Errorf("%w %q (probe plugins are %s* files in the plugin directory)", plugins.ErrUnknownPlugin, name, ProbePrefix)
		}
		if st, err := os.Stat(path); err != nil || st.IsDir() {
			c.mu.Unlock()
			return nil, fmt.Errorf("%w %q (known probe plugins: %s; they are %s* files in %s)",
				plugins.ErrUnknownPlugin, name, strings.Join(c.probeNames(), ", "), ProbePrefix, c.cfg.Dir)
		}
		sum, err := verify(path, c.cfg.Checksums)
		if err != nil {
			c.mu.Unlock()
			return nil, err
		}
		r = &Remote{name: name, cat: c, probe: true, path: path, sha256: sum,
			log: c.cfg.Log.With().Str("probe_plugin", name).Logger()}
		c.remotes[key] = r
	}
	c.mu.Unlock()
	if _, err := r.get(ctx); err != nil {
		return nil, fmt.Errorf("probe plugin %s: %w", name, err)
	}
	return r, nil
}

// ProbeKind implements probes.Source: "NAME.KIND" is kind KIND of the
// probe plugin chaosctl-probe-NAME.
func (c *Catalog) ProbeKind(ctx context.Context, name string) (probes.Kind, error) {
	plugin, kind, _ := strings.Cut(name, ".")
	r, err := c.probeRemote(ctx, plugin)
	if err != nil {
		return probes.Kind{}, err
	}
	d, err := r.describeProbe(ctx)
	if err != nil {
		return probes.Kind{}, fmt.Errorf("probe plugin %s: %w", plugin, err)
	}
	k, ok := d.Kind(kind)
	if !ok {
		var known []string
		for _, k := range d.Kinds {
			known = append(known, plugin+"."+k.Name)
		}
		return probes.Kind{}, fmt.Errorf("probe plugin %s has no kind %q (known: %s)", plugin, kind, strings.Join(known, ", "))
	}
	return probes.Kind{
		Name: name, Doc: k.Doc, Keys: k.Keys,
		NewSpec: func() probes.Spec { return &pluginSpec{r: r, kind: kind, name: name} },
	}, nil
}

// describeProbe is cached like a fault plugin's Describe.
func (r *Remote) describeProbe(ctx context.Context) (plugins.ProbeDescriptor, error) {
	r.mu.Lock()
	if r.pdesc != nil {
		d := *r.pdesc
		r.mu.Unlock()
		return d, nil
	}
	r.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, r.cat.cfg.CallTimeout)
	defer cancel()
	p, err := r.get(cctx)
	if err != nil {
		return plugins.ProbeDescriptor{}, err
	}
	d, err := p.probe.Describe(cctx)
	if err == nil {
		r.mu.Lock()
		r.pdesc = &d
		r.mu.Unlock()
	}
	return d, err
}

// pluginSpec is a plugin probe's spec: its keys as values.
type pluginSpec struct {
	r          *Remote
	kind, name string
	keys       plugins.Params
}

var _ probes.KeysSpec = (*pluginSpec)(nil)

func (s *pluginSpec) SetKeys(p plugins.Params) { s.keys = p }

// Validate asks the plugin. The Spec interface has no context, so the
// call is bounded by the catalog's CallTimeout.
func (s *pluginSpec) Validate() []probes.FieldError {
	ctx, cancel := context.WithTimeout(context.Background(), s.r.cat.cfg.CallTimeout)
	defer cancel()
	p, err := s.r.get(ctx)
	if err == nil {
		err = p.probe.Validate(ctx, s.kind, s.keys)
	}
	if err == nil {
		return nil
	}
	var out []probes.FieldError
	var walk func(error)
	walk = func(e error) {
		var ve *plugins.ValidationError
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if errors.As(e, &ve) {
			out = append(out, probes.FieldError{Field: ve.Field, Msg: ve.Msg})
		}
	}
	walk(err)
	if len(out) == 0 {
		out = append(out, probes.FieldError{Field: "kind", Msg: fmt.Sprintf("probe plugin %s: %v", s.r.name, err)})
	}
	return out
}

func (s *pluginSpec) Build(name string) (probes.Prober, error) {
	s.r.mu.Lock()
	seen := s.r.crashes
	s.r.mu.Unlock()
	return &pluginProber{r: s.r, req: plugins.SampleRequest{Kind: s.kind, Probe: name, Spec: s.keys}, crashes: seen}, nil
}

// pluginProber takes each sample as one Sample call under the caller's
// deadline (the probe's timeout). A plugin process that died gives a
// failed sample, "probe plugin died", and the next sample relaunches it.
type pluginProber struct {
	r       *Remote
	req     plugins.SampleRequest
	mu      sync.Mutex
	crashes int // the crashes of r this prober has reported
}

func (p *pluginProber) Probe(ctx context.Context) probes.Sample {
	start := time.Now()
	out := probes.Sample{Probe: p.req.Probe, Time: start}
	smp, err := p.sample(ctx)
	out.Latency = time.Since(start)
	if err != nil {
		out.Err = err.Error()
		return out
	}
	if smp.Latency > 0 {
		out.Latency = smp.Latency
	}
	out.OK, out.Value, out.Err = smp.OK, smp.Value, smp.Err
	return out
}

func (p *pluginProber) sample(ctx context.Context) (plugins.ProbeSample, error) {
	// A crash between two samples fails the next one, which relaunches
	// nothing: the one after it does.
	p.r.mu.Lock()
	crashes, how := p.r.crashes, p.r.lastCrash
	p.r.mu.Unlock()
	p.mu.Lock()
	fresh := crashes > p.crashes
	p.crashes = crashes
	p.mu.Unlock()
	if fresh {
		return plugins.ProbeSample{}, fmt.Errorf("%w (%s); relaunching it", ErrProbePluginDied, how)
	}
	pr, err := p.r.get(ctx)
	if err != nil {
		return plugins.ProbeSample{}, fmt.Errorf("%w: relaunch: %w", ErrProbePluginDied, err)
	}
	smp, err := pr.probe.Sample(ctx, p.req)
	switch {
	case err == nil:
		return smp, nil
	case errors.Is(err, plugins.ErrPluginShutdown) || (ctx.Err() == nil && pr.client.Exited()):
		p.mu.Lock()
		p.crashes++ // this sample reports the crash that its watch counts
		p.mu.Unlock()
		return smp, fmt.Errorf("%w (pid %d): %w", ErrProbePluginDied, pr.pid, err)
	case ctx.Err() != nil:
		return smp, fmt.Errorf("timed out: %w", err)
	}
	return smp, err
}

// ListProbes launches every probe plugin and asks it to describe itself;
// one that is refused or fails is listed with the reason.
func (c *Catalog) ListProbes(ctx context.Context) []Info {
	var out []Info
	for _, n := range c.probeNames() {
		in := Info{Name: n, Source: "external probe", Path: filepath.Join(c.cfg.Dir, ProbePrefix+n)}
		r, err := c.probeRemote(ctx, n)
		if err == nil {
			var d plugins.ProbeDescriptor
			if d, err = r.describeProbe(ctx); err == nil {
				in.Probe = &d
			}
		}
		if err != nil {
			in.Error = err.Error()
		}
		in.SHA256, _ = fileSHA256(in.Path)
		out = append(out, in)
	}
	return out
}
