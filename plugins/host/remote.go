package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/internal/lifeline"
	"github.com/chaosctl/chaosctl/plugins"
)

// Remote is one plugin behind a process boundary. It is the plugins.Fault
// that Catalog.Lookup returns: every call goes to the current plugin
// process, launched when there is none. It tracks the faults injected and
// not yet reverted so that, when the process dies, a fresh one reverts
// them from their revert data.
type Remote struct {
	cat    *Catalog
	name   string
	log    zerolog.Logger
	path   string
	args   []string
	sha256 string // third-party plugins: the verified sum
	probe  bool   // a probe plugin: dispense the probe contract

	mu    sync.Mutex
	cur   *proc
	desc  *plugins.Descriptor
	pdesc *plugins.ProbeDescriptor
	// crashes counts the processes that died unasked; lastCrash says how
	// the last one did. Probe samples report each crash once.
	crashes   int
	lastCrash string
	active    []*injection
	closed    bool
}

var (
	_ plugins.Fault        = (*Remote)(nil)
	_ plugins.CrashWatcher = (*Remote)(nil)
	_ plugins.Preparer     = (*Remote)(nil)
)

// proc is one launch of the plugin.
type proc struct {
	client *goplugin.Client
	cmd    *exec.Cmd
	fault  plugins.Fault
	probe  plugins.ProbePlugin // for a probe plugin, instead of fault
	pid    int
	killed bool // by us: not a crash (guarded by Remote.mu)
}

// injection is a fault in effect, until Revert or a crash revert.
type injection struct {
	action string
	data   []byte
	ch     chan plugins.EarlyRevert
}

// get returns the running plugin process, launching one if needed.
func (r *Remote) get(ctx context.Context) (*proc, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if r.cur != nil && !r.cur.client.Exited() {
		return r.cur, nil
	}
	p, err := r.launch(ctx)
	if err != nil {
		return nil, err
	}
	r.cur = p
	go r.watch(p)
	return p, nil
}

// launch starts the plugin process and completes the handshake.
func (r *Remote) launch(ctx context.Context) (*proc, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", plugins.ErrCanceled, err)
	}
	sockDir, err := r.cat.socketDir()
	if err != nil {
		return nil, err
	}
	cmd := command(r.path, r.args)
	cmd.Env = pluginEnv(sockDir)
	cfg := &goplugin.ClientConfig{
		HandshakeConfig:  plugins.Handshake,
		Plugins:          plugins.HostPluginMap(),
		Cmd:              cmd,
		SkipHostEnv:      true, // cmd.Env is it, with the socket directory
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		StartTimeout:     r.cat.cfg.StartTimeout,
		Logger:           hclogger(r.log),
	}
	if r.sha256 != "" {
		// go-plugin checks the sum again right before exec.
		sum, _ := hex.DecodeString(r.sha256)
		cfg.SecureConfig = &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	c := goplugin.NewClient(cfg)
	var rpc goplugin.ClientProtocol
	// Forked from a thread that never exits, so Pdeathsig fires only when
	// chaosctl itself dies.
	lifeline.Do(func() { rpc, err = c.Client() })
	if err != nil {
		c.Kill()
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			return nil, fmt.Errorf("%w: refusing to run %s: it changed since it was verified", ErrChecksumMismatch, r.path)
		}
		return nil, fmt.Errorf("start %s: %w", r.path, err)
	}
	contract := plugins.PluginName
	if r.probe {
		contract = plugins.ProbePluginName
	}
	raw, err := rpc.Dispense(contract)
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("start %s: %w", r.path, err)
	}
	p := &proc{client: c, cmd: cmd}
	var ok bool
	if r.probe {
		p.probe, ok = raw.(plugins.ProbePlugin)
	} else {
		p.fault, ok = raw.(plugins.Fault)
	}
	if !ok {
		c.Kill()
		return nil, fmt.Errorf("start %s: plugin serves %T, not a %s", r.path, raw, contract)
	}
	if cmd.Process != nil {
		p.pid = cmd.Process.Pid
	}
	r.log.Debug().Int("pid", p.pid).Msg("plugin started")
	return p, nil
}

// watch waits for p to exit. An exit we did not cause is a crash: every
// fault in effect is reverted from its revert data by a fresh process and
// its watcher told.
func (r *Remote) watch(p *proc) {
	for !p.client.Exited() {
		time.Sleep(20 * time.Millisecond)
	}
	died := time.Now()
	r.mu.Lock()
	if p.killed || r.closed {
		r.mu.Unlock()
		return
	}
	active := r.active
	r.active = nil
	r.mu.Unlock()
	how := "exited"
	if st := p.cmd.ProcessState; st != nil {
		how = st.String()
	}
	r.mu.Lock()
	r.crashes++
	r.lastCrash = fmt.Sprintf("pid %d, %s", p.pid, how)
	r.mu.Unlock()
	r.log.Warn().Int("pid", p.pid).Str("exit", how).Int("faults_in_effect", len(active)).Msg("plugin process died")
	if r.cat.cfg.OnCrash != nil {
		r.cat.cfg.OnCrash(r.name)
	}
	if len(active) == 0 {
		return // the next call relaunches it
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cat.cfg.RevertTimeout)
	defer cancel()
	np, err := r.get(ctx)
	for _, in := range active {
		rerr := err
		note := fmt.Sprintf("plugin %s process (pid %d) died at %s (%s)", r.name, p.pid, died.Format(time.RFC3339Nano), how)
		if err == nil {
			rerr = np.fault.Revert(ctx, in.action, in.data)
			note += fmt.Sprintf("; relaunched as pid %d", np.pid)
		} else {
			note += "; relaunch failed: " + err.Error()
		}
		if rerr != nil {
			// Not reverted: the fault stays in the holder's hands, whose own
			// Revert (relaunching the plugin) tries again when it ends.
			r.log.Error().Err(rerr).Str("note", note).Msg("revert after plugin crash failed; the fault's own revert will retry")
			r.mu.Lock()
			r.active = append(r.active, in)
			r.mu.Unlock()
			continue
		}
		note += "; reverted from revert data"
		r.log.Warn().Msg("fault reverted after plugin crash")
		in.ch <- plugins.EarlyRevert{At: time.Now(), Note: note}
	}
}

func (r *Remote) close() {
	r.mu.Lock()
	r.closed = true
	p := r.cur
	if p != nil {
		p.killed = true
	}
	r.mu.Unlock()
	if p != nil {
		p.client.Kill()
	}
}

// call runs fn on the plugin. When idempotent and the process turns out
// to be gone, it relaunches the plugin and tries once more.
func (r *Remote) call(ctx context.Context, idempotent bool, fn func(plugins.Fault) error) error {
	p, err := r.get(ctx)
	if err != nil {
		return err
	}
	err = fn(p.fault)
	if !idempotent || !errors.Is(err, plugins.ErrPluginShutdown) {
		return err
	}
	// The connection broke; wait for the process to be reaped, then retry.
	deadline := time.Now().Add(2 * time.Second)
	for !p.client.Exited() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if p, err = r.get(ctx); err != nil {
		return err
	}
	return fn(p.fault)
}

// quick runs a call that should answer at once under CallTimeout. A plugin
// that hangs is killed: its crash watch reverts what it holds, and the
// next call relaunches it. A hung plugin never blocks a run for good.
func (r *Remote) quick(ctx context.Context, method string, fn func(ctx context.Context, f plugins.Fault) error) error {
	cctx, cancel := context.WithTimeout(ctx, r.cat.cfg.CallTimeout)
	defer cancel()
	err := r.call(cctx, true, func(f plugins.Fault) error { return fn(cctx, f) })
	if ownTimeout(ctx, cctx, err) {
		r.mu.Lock()
		p := r.cur
		r.mu.Unlock()
		if p != nil {
			p.client.Kill()
		}
		return fmt.Errorf("plugin %s did not answer %s within %s; its process was killed: %w", r.name, method, r.cat.cfg.CallTimeout, err)
	}
	return err
}

// ownTimeout reports whether err is the call timeout of quick running
// out, not the caller's context. It cannot ask cctx alone: the plugin's
// end learns the deadline from the grpc-timeout header and may answer
// DeadlineExceeded a moment before cctx's own timer fires, above all on
// a loaded machine. So a deadline error counts too, unless the caller's
// own deadline was the one that bound.
func ownTimeout(ctx, cctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	if !errors.Is(cctx.Err(), context.DeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	outer, ok := ctx.Deadline()
	own, _ := cctx.Deadline()
	return !ok || outer.After(own)
}

// Describe is cached: a plugin's schema does not change while it runs.
func (r *Remote) Describe(ctx context.Context) (plugins.Descriptor, error) {
	r.mu.Lock()
	if r.desc != nil {
		d := *r.desc
		r.mu.Unlock()
		return d, nil
	}
	r.mu.Unlock()
	var d plugins.Descriptor
	err := r.quick(ctx, "Describe", func(ctx context.Context, f plugins.Fault) (err error) { d, err = f.Describe(ctx); return })
	if err == nil {
		r.mu.Lock()
		r.desc = &d
		r.mu.Unlock()
	}
	return d, err
}

func (r *Remote) Validate(ctx context.Context, action string, params, selector plugins.Params) error {
	return r.quick(ctx, "Validate", func(ctx context.Context, f plugins.Fault) error { return f.Validate(ctx, action, params, selector) })
}

func (r *Remote) Targets(ctx context.Context, action string, params, selector plugins.Params) ([]plugins.Target, error) {
	var ts []plugins.Target
	err := r.quick(ctx, "Targets", func(ctx context.Context, f plugins.Fault) (err error) {
		ts, err = f.Targets(ctx, action, params, selector)
		return
	})
	return ts, err
}

// Prepare is retried like any call that changes nothing.
func (r *Remote) Prepare(ctx context.Context, req plugins.InjectRequest) ([]byte, error) {
	var rd []byte
	err := r.quick(ctx, "Prepare", func(ctx context.Context, f plugins.Fault) (err error) {
		pr, ok := f.(plugins.Preparer)
		if !ok {
			return nil
		}
		rd, err = pr.Prepare(ctx, req)
		return
	})
	return rd, err
}

// Inject is not retried: whether a broken call injected is unknown.
func (r *Remote) Inject(ctx context.Context, req plugins.InjectRequest) ([]byte, error) {
	var rd []byte
	err := r.call(ctx, false, func(f plugins.Fault) (err error) { rd, err = f.Inject(ctx, req); return })
	if err == nil && rd != nil {
		r.mu.Lock()
		r.active = append(r.active, &injection{action: req.Action, data: rd, ch: make(chan plugins.EarlyRevert, 1)})
		r.mu.Unlock()
	}
	return rd, err
}

// Revert ends the fault's crash watch, then reverts it.
func (r *Remote) Revert(ctx context.Context, action string, revertData []byte) error {
	r.mu.Lock()
	for i, in := range r.active {
		if in.action == action && bytes.Equal(in.data, revertData) {
			r.active = append(r.active[:i], r.active[i+1:]...)
			break
		}
	}
	r.mu.Unlock()
	return r.call(ctx, true, func(f plugins.Fault) error { return f.Revert(ctx, action, revertData) })
}

func (r *Remote) Status(ctx context.Context, action string, revertData []byte) (plugins.Status, error) {
	var st plugins.Status
	err := r.quick(ctx, "Status", func(ctx context.Context, f plugins.Fault) (err error) {
		st, err = f.Status(ctx, action, revertData)
		return
	})
	return st, err
}

// Watch implements plugins.CrashWatcher.
func (r *Remote) Watch(action string, revertData []byte) <-chan plugins.EarlyRevert {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, in := range r.active {
		if in.action == action && bytes.Equal(in.data, revertData) {
			return in.ch
		}
	}
	return nil
}

// PID is the plugin's current process id, 0 when none runs.
func (r *Remote) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil || r.cur.client.Exited() {
		return 0
	}
	return r.cur.pid
}

// hclogger sends go-plugin's own logging (and the plugin's stderr) to log.
func hclogger(log zerolog.Logger) hclog.Logger {
	lvl := hclog.Warn
	if log.GetLevel() <= zerolog.DebugLevel {
		lvl = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{Name: "go-plugin", Level: lvl, Output: logWriter{log}})
}

type logWriter struct{ log zerolog.Logger }

func (w logWriter) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line != "" {
			w.log.Warn().Str("from", "go-plugin").Msg(line)
		}
	}
	return len(b), nil
}
