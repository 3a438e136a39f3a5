package cli

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/scenarios"
)

// newProgress returns an observer for a run and a function that stops it.
// On a terminal it redraws one status line (phase, elapsed, SLO state,
// countdown) and prints fault changes above it; off a terminal it logs
// structured lines.
func newProgress(e *env, sc *scenarios.Scenario) (experiments.Observer, func()) {
	if !e.tty || e.output == "json" {
		l := &sloLog{e: e, held: map[string]bool{}, at: map[string]time.Time{}}
		return l.event, func() {}
	}
	p := &liveLine{e: e, start: time.Now(), done: make(chan struct{}), stopped: make(chan struct{})}
	go p.loop()
	return p.observe, func() {
		close(p.done)
		<-p.stopped
	}
}

// sloLog writes what the engine's own log lines do not say: an SLO's state
// when it changes and every 5s otherwise, and failed samples at debug level.
type sloLog struct {
	e     *env
	held  map[string]bool
	at    map[string]time.Time
	state experiments.RecoveryStep // the recovery step last logged
}

func (l *sloLog) event(ev experiments.Event) {
	switch ev.Kind {
	case experiments.EventSLO:
		for _, s := range ev.SLOs {
			prev, seen := l.held[s.Name]
			if seen && prev == s.Held && ev.Time.Sub(l.at[s.Name]) < 5*time.Second {
				continue
			}
			l.held[s.Name], l.at[s.Name] = s.Held, ev.Time
			l.e.log.Info().Str("run_id", ev.RunID).Str("slo", s.Name).Bool("held", s.Held).
				Float64("availability_pct", s.Availability).Float64("p99_ms", float64(s.P99)/1e6).Int("samples", s.Samples).Msg("slo")
		}
	case experiments.EventSample:
		if s := ev.Sample; !s.OK {
			l.e.log.Debug().Str("run_id", ev.RunID).Str("probe", s.Probe).Str("error", s.Err).Msg("probe failed")
		}
	case experiments.EventRecovery:
		if rs := ev.Recovery; rs.State != l.state {
			l.state = rs.State
			l.e.log.Info().Str("run_id", ev.RunID).Str("state", string(rs.State)).Msg(recoveryLine(rs))
		}
	}
}

// recoveryLine says where recovery stands, in words: the SLOs' sliding
// windows still hold the outage for a while after service is back, so the
// live line shows this instead while recovery is judged.
func recoveryLine(rs *experiments.RecoveryState) string {
	secs := func(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }
	at := "+" + rs.At.Round(time.Millisecond).String()
	switch rs.State {
	case experiments.RecoveryWaiting:
		return "✗ not recovered yet: " + strings.Join(rs.Pending, ", ") + " not holding"
	case experiments.RecoveryConfirming:
		return fmt.Sprintf("✓ recovered at %s, confirming %s/%s", at, secs(min(rs.Elapsed, rs.Need)), secs(rs.Need))
	case experiments.RecoveryWatching:
		return fmt.Sprintf("✓ recovered at %s, confirmed; watching for a relapse %s/%s", at, secs(min(rs.Elapsed, rs.Need)), secs(rs.Need))
	case experiments.RecoveryRelapsed:
		return fmt.Sprintf("✗ recovered at %s, relapsed at +%s (SLO %s)", at, rs.Relapsed.Round(time.Millisecond), rs.SLO)
	}
	return string(rs.State)
}

// faultLine is the line a fault event is worth, or "" when it says
// nothing new.
func faultLine(f *journal.Fault) string {
	switch {
	case f.InjectError != "":
		return fmt.Sprintf("✗ inject %s on %s failed: %s", f.Name, f.Target, f.InjectError)
	case f.RevertError != "":
		return fmt.Sprintf("✗ revert %s on %s failed: %s", f.Name, f.Target, f.RevertError)
	case f.RevertedAt != nil:
		return fmt.Sprintf("↺ reverted %s on %s", f.Name, f.Target)
	case f.VanishedAt != nil && (f.ReappliedAt == nil || f.ReappliedAt.Before(*f.VanishedAt)):
		return fmt.Sprintf("✗ %s on %s vanished while held", f.Name, f.Target)
	case f.ReappliedAt != nil:
		return fmt.Sprintf("⚡ reapplied %s on %s (%d)", f.Name, f.Target, f.Reapplied)
	case f.Effect == journal.EffectConfirmed:
		return fmt.Sprintf("✓ %s on %s: effect confirmed: %s", f.Name, f.Target, f.EffectDetail)
	case f.Effect == journal.EffectNotInEffect:
		return fmt.Sprintf("✗ %s on %s %s", f.Name, f.Target, f.EffectDetail)
	case f.Effect == journal.EffectUnverified:
		return fmt.Sprintf("? %s on %s: %s", f.Name, f.Target, f.EffectDetail)
	case f.InjectedAt != nil:
		return fmt.Sprintf("⚡ injected %s.%s on %s", f.Plugin, f.Action, f.Target)
	}
	return ""
}

type liveLine struct {
	e       *env
	start   time.Time
	mu      sync.Mutex
	phase   journal.PhaseName
	phaseAt time.Time
	dl      *time.Time
	slos    []experiments.SLOState
	rec     *experiments.RecoveryState // while recovery is judged
	printed map[string]string          // fault id -> the last line shown for it
	lines   []string
	last    map[string]bool // probe -> ok, from the latest sample
	done    chan struct{}
	stopped chan struct{}
}

func (p *liveLine) observe(ev experiments.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev.Kind {
	case experiments.EventPhase:
		p.phase, p.phaseAt, p.dl = ev.Phase, ev.Time, ev.Deadline
	case experiments.EventSLO:
		p.slos = ev.SLOs
	case experiments.EventSample:
		if p.last == nil {
			p.last = map[string]bool{}
		}
		p.last[ev.Sample.Probe] = ev.Sample.OK
	case experiments.EventFault:
		if p.printed == nil {
			p.printed = map[string]string{}
		}
		if l := faultLine(ev.Fault); l != "" && l != p.printed[ev.Fault.ID] {
			p.printed[ev.Fault.ID] = l
			p.lines = append(p.lines, l)
		}
	case experiments.EventRecovery:
		p.rec = ev.Recovery
	case experiments.EventMessage:
		p.lines = append(p.lines, ev.Message)
	}
}

func (p *liveLine) loop() {
	defer close(p.stopped)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			p.draw()
			fmt.Fprint(p.e.stderr, "\r\033[K")
			return
		case <-t.C:
			p.draw()
		}
	}
}

func (p *liveLine) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, l := range p.lines {
		fmt.Fprintf(&b, "\r\033[K%s %s\n", time.Now().Format("15:04:05"), l)
	}
	p.lines = p.lines[:0]
	fmt.Fprintf(&b, "\r\033[K[%s] %5.1fs", p.phase, time.Since(p.start).Seconds())
	if p.rec != nil && p.phase == journal.PhaseRecovery {
		fmt.Fprintf(&b, "  %s", recoveryLine(p.rec))
		fmt.Fprint(p.e.stderr, b.String())
		return
	}
	for _, s := range p.slos {
		mark := "✓"
		if !s.Held {
			mark = "✗"
		}
		fmt.Fprintf(&b, "  %s %s %.1f%% p99 %s", mark, s.Name, s.Availability, s.P99.Round(time.Millisecond))
	}
	if p.dl != nil {
		if left := time.Until(*p.dl); left > 0 {
			fmt.Fprintf(&b, "  ends in %.1fs", left.Seconds())
		}
	}
	fmt.Fprint(p.e.stderr, b.String())
}
