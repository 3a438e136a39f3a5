package experiments

import (
	"context"
	"fmt"
	"time"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/slo"
)

// Settle is how far behind "now" recovery is judged (slo.Settle).
const Settle = slo.Settle

// recovery judges time to recover (see judge.go): from the first injection
// (or the last revert) to the instant after which every SLO held for
// hold_for, through the last fault event; then it watches for a relapse for
// observe_after. It keeps sampling until recovery is confirmed or
// recover_within (plus hold_for to confirm it) has passed. It returns the
// failures to report; runs that prove nothing get inconclusive notes.
func (r *run) recovery(ctx context.Context, fw faultWindow) []string {
	rc := r.sc.Recovery
	from, measured := fw.start, "inject"
	if rc.MeasureFrom == "revert" {
		from, measured = fw.end, "revert"
	}
	last := fw.end // the last fault event
	hold := rc.HoldFor.Duration
	deadline := slo.Later(from.Add(rc.Within.Duration), last).Add(hold)
	r.phase(journal.PhaseRecovery, &deadline)
	out := &journal.Recovery{MeasuredFrom: measured, From: from, Objective: rc.Within.Duration, LastFaultAt: last}
	r.mu.Lock()
	r.j.Recovery = out
	r.mu.Unlock()

	js := slo.Judges(r.sc, from, last)
	stopAt := deadline.Add(r.slack() + Settle)
	var shown RecoveryState
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now().Add(-Settle)
		st := judgeAll(js, r.rec.judge, now)
		if s := st.progress(from, now); s.changed(shown, now) {
			shown = s
			r.emit(Event{Kind: EventRecovery, Recovery: &s})
		}
		switch {
		case st.relapsed != "":
			return r.recovered(out, st, from, measured)
		case st.confirmed && st.done:
			return r.recovered(out, st, from, measured)
		case !st.confirmed && now.After(stopAt):
			return r.notRecovered(st, from, last, now, measured)
		case st.confirmed && st.at.Sub(from) > rc.Within.Duration:
			// Too slow already: no relapse watch can change the verdict.
			return r.recovered(out, st, from, measured)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// recovered records a confirmed recovery (and a relapse, if one came) and
// returns the failures it makes.
func (r *run) recovered(out *journal.Recovery, st recoveryStatus, from time.Time, measured string) []string {
	rc := r.sc.Recovery
	d := st.at.Sub(from)
	r.mu.Lock()
	at, confirmed := st.at, st.confirmEnd
	out.RecoveredAt, out.Duration, out.ConfirmedAt = &at, &d, &confirmed
	out.Recovered = d <= rc.Within.Duration
	if st.done {
		until := st.watchEnd
		out.ObservedUntil = &until
	}
	if st.relapsed != "" {
		rel := st.relapsedAt
		out.RelapsedAt, out.RelapsedSLO = &rel, st.relapsed
		out.ObservedUntil = &rel
	}
	r.mu.Unlock()
	var failures []string
	if !out.Recovered {
		failures = append(failures, fmt.Sprintf("not recovered within %s: service recovered after %s", rc.Within, d.Round(time.Millisecond)))
	}
	if st.relapsed != "" {
		r.log.Warn().Str("slo", st.relapsed).Float64("recovered_ms", float64(d)/1e6).
			Float64("relapsed_ms", float64(st.relapsedAt.Sub(from))/1e6).Msg("relapsed")
		failures = append(failures, fmt.Sprintf("SLO %s recovered at +%s, relapsed at +%s (measured from %s)",
			st.relapsed, d.Round(time.Millisecond), st.relapsedAt.Sub(from).Round(time.Millisecond), measured))
	} else {
		r.log.Info().Float64("time_to_recover_ms", float64(d)/1e6).Msg("recovered")
	}
	for _, g := range st.gaps {
		r.addInconclusive(fmt.Sprintf("SLO %s had no samples from +%s to +%s, longer than hold_for (%s): its recovery was not measured there",
			g.slo, g.from.Sub(from).Round(time.Millisecond), g.to.Sub(from).Round(time.Millisecond), rc.HoldFor))
	}
	return failures
}

// notRecovered says which SLOs never held; an SLO with no sample at all
// since the last fault event proves nothing, so the run is inconclusive.
func (r *run) notRecovered(st recoveryStatus, from, last, now time.Time, measured string) []string {
	rc := r.sc.Recovery
	var blind []string
	for _, name := range st.pending {
		for _, o := range r.objs {
			if o.Name == name && len(r.rec.window(o.Probe, last, now)) == 0 {
				blind = append(blind, name)
			}
		}
	}
	if len(blind) > 0 && len(blind) == len(st.pending) {
		r.addInconclusive(fmt.Sprintf("SLO %v had no samples after the last fault: recovery could not be measured", blind))
		return nil
	}
	return []string{fmt.Sprintf("not recovered within %s: SLO %v still not holding for %s after %s",
		rc.Within, st.pending, rc.HoldFor, measured)}
}

// slack is the slowest probe's timeout: attempts in flight at a deadline
// land within it.
func (r *run) slack() time.Duration {
	var slack time.Duration
	for _, p := range r.sc.Probes {
		slack = max(slack, p.Timeout.Duration)
	}
	return slack
}

// recoveryStatus is every SLO's judgement put together.
type recoveryStatus struct {
	at         time.Time // the latest SLO's recovery instant (tentative unless confirmed)
	confirmEnd time.Time // when the last SLO's confirmation completes
	watchEnd   time.Time // when the relapse watch ends
	confirmed  bool      // every SLO confirmed
	done       bool      // every SLO's relapse watch is over
	pending    []string  // SLOs with no recovery instant yet
	relapsed   string    // the first SLO that relapsed
	relapsedAt time.Time
	gaps       []gap
}

type gap struct {
	slo      string
	from, to time.Time
}

// judgeAll judges every SLO's recovery at now; judge runs one judge over
// its probe's samples, read in place (recorder.judge).
func judgeAll(js []slo.Judge, judge func(j slo.Judge, now time.Time) slo.Judgement, now time.Time) recoveryStatus {
	st := recoveryStatus{confirmed: true, done: true}
	for _, j := range js {
		jd := judge(j, now)
		if jd.At.IsZero() {
			st.pending = append(st.pending, j.O.Name)
			st.confirmed, st.done = false, false
			continue
		}
		st.at = slo.Later(st.at, jd.At)
		st.confirmEnd = slo.Later(st.confirmEnd, jd.ConfirmEnd)
		st.watchEnd = slo.Later(st.watchEnd, jd.ConfirmEnd.Add(j.Watch))
		st.confirmed = st.confirmed && jd.Confirmed
		st.done = st.done && jd.Done
		if !jd.RelapsedAt.IsZero() && (st.relapsed == "" || jd.RelapsedAt.Before(st.relapsedAt)) {
			st.relapsed, st.relapsedAt = j.O.Name, jd.RelapsedAt
		}
		if !jd.GapFrom.IsZero() {
			st.gaps = append(st.gaps, gap{slo: j.O.Name, from: jd.GapFrom, to: jd.GapTo})
		}
	}
	return st
}

// RecoveryStep is where the recovery judgement stands, for live progress
// (RecoveryState.State). It is not a phase (journal.PhaseName), though two
// of its words are also the names of SLO windows: "recovering" and
// "recovered" here say what the judgement has seen so far, live.
type RecoveryStep string

// The recovery judgement's steps.
const (
	RecoveryWaiting    RecoveryStep = "recovering" // some SLO has not held since the last fault
	RecoveryConfirming RecoveryStep = "confirming" // every SLO holds; hold_for is being confirmed
	RecoveryWatching   RecoveryStep = "recovered"  // confirmed; watching for a relapse
	RecoveryRelapsed   RecoveryStep = "relapsed"
)

// RecoveryState is where recovery stands, for live progress: the live line
// shows it instead of the SLOs' sliding windows, which still hold the
// outage for a while after service is back.
type RecoveryState struct {
	State     RecoveryStep  `json:"state"`
	At        time.Duration `json:"at_ns,omitempty"`       // the recovery instant, from the recovery clock's start
	Elapsed   time.Duration `json:"elapsed_ns,omitempty"`  // confirming: how much of it has held; recovered: how much of the watch is over
	Need      time.Duration `json:"need_ns,omitempty"`     // confirming: all it takes; recovered: the whole watch
	Relapsed  time.Duration `json:"relapsed_ns,omitempty"` // relapsed: when, from the recovery clock's start
	SLO       string        `json:"slo,omitempty"`         // relapsed: which
	Pending   []string      `json:"pending,omitempty"`     // recovering: the SLOs not holding
	UpdatedAt time.Time     `json:"updated_at"`
}

func (st recoveryStatus) progress(from, now time.Time) RecoveryState {
	out := RecoveryState{UpdatedAt: now}
	switch {
	case st.relapsed != "":
		out.State, out.SLO, out.At, out.Relapsed = RecoveryRelapsed, st.relapsed, st.at.Sub(from), st.relapsedAt.Sub(from)
	case len(st.pending) > 0:
		out.State, out.Pending = RecoveryWaiting, st.pending
	case !st.confirmed:
		out.State, out.At = RecoveryConfirming, st.at.Sub(from)
		out.Elapsed, out.Need = max(0, now.Sub(st.at)), st.confirmEnd.Sub(st.at)
	default:
		out.State, out.At = RecoveryWatching, st.at.Sub(from)
		out.Elapsed, out.Need = max(0, now.Sub(st.confirmEnd)), st.watchEnd.Sub(st.confirmEnd)
	}
	return out
}

// changed says whether s is worth an event after prev: a new state or
// instant at once, the countdown five times a second.
func (s RecoveryState) changed(prev RecoveryState, now time.Time) bool {
	return s.State != prev.State || s.At != prev.At || now.Sub(prev.UpdatedAt) >= 200*time.Millisecond
}

// minInterval is the shortest probe interval of the scenario.
func (r *run) minInterval() time.Duration {
	var m time.Duration
	for _, p := range r.sc.Probes {
		if m == 0 || p.Interval.Duration < m {
			m = p.Interval.Duration
		}
	}
	return m
}

// figures fills per-phase SLO figures in the journal and returns failures
// of SLOs that had to hold during the faults.
func (r *run) figures(steadyStart time.Time, fw faultWindow, end time.Time) []string {
	var failures []string
	results := make([]journal.SLOResult, 0, len(r.objs))
	for _, o := range r.objs {
		res := journal.SLOResult{Name: o.Name, Probe: o.Probe, Objective: o.String(), Phases: map[journal.PhaseName]journal.SLOFigure{}, Held: true,
			LatencyPercentile: o.Percentile, LatencyMax: o.LatencyMax}
		res.Phases[journal.PhaseSteady] = r.rec.figure(o, steadyStart, steadyStart.Add(r.sc.Steady.Duration.Duration))
		if !fw.start.IsZero() {
			// A window shorter than a probe interval (an instantaneous
			// kill) holds a sample or two by chance: no figure.
			if fw.end.Sub(fw.start) >= r.minInterval() {
				res.Phases[journal.PhaseFault] = r.rec.figure(o, fw.start, fw.end)
			}
			if rc := r.j.Recovery; rc != nil && rc.RecoveredAt != nil {
				if rc.RecoveredAt.After(fw.end) {
					res.Phases[journal.PhaseRecovering] = r.rec.figure(o, fw.end, *rc.RecoveredAt)
				}
				res.Phases[journal.PhaseRecovered] = r.rec.figure(o, *rc.RecoveredAt, end)
			} else {
				res.Phases[journal.PhaseRecovering] = r.rec.figure(o, fw.end, end)
			}
			if f, ok := res.Phases[journal.PhaseFault]; ok && f.Samples == 0 && o.MustHold {
				r.addInconclusive(fmt.Sprintf("SLO %s must hold during the faults but had no samples while they were in", o.Name))
			}
			if at, breached := r.rec.breachDuring(o, fw.start, fw.end); breached {
				res.BreachedAt = &at
				if o.MustHold {
					res.Held = false
					failures = append(failures, fmt.Sprintf("SLO %s (%s) broke during the faults at +%s and must hold throughout",
						o.Name, o, at.Sub(fw.start).Round(time.Millisecond)))
				}
			}
		}
		results = append(results, res)
	}
	r.mu.Lock()
	r.j.SLOs = results
	r.mu.Unlock()
	return failures
}
