package slo

import (
	"sort"
	"time"

	"github.com/chaosctl/chaosctl/probes"
)

// How recovery is judged (the README draws it):
//
//	from      lastEvent (L)                 E+hold          E+hold+observe_after
//	 |  faults  |                              |                     |
//	 |----------|--------------R---------------|---------------------|
//	            the recovery instant R: every hold window starting at
//	            a sample in [R, E] holds, E = max(R, L) (confirmation);
//	            then every hold window starting in (E, E+observe_after]
//	            must hold too, or the run relapsed.
//
// A hold window starts at an instant t and holds the samples whose outcome
// became known in [t, t+hold]. Windows start at every sample, failed ones
// too, so that no stretch of failures escapes a window. R is from itself
// when the window at from and every later one up to L hold (service never
// broke); otherwise it is the end of the first ok sample whose window holds
// after the last window, up to L, that did not.
//
// Nothing before the last fault event can confirm recovery: a fault that
// bites late (the second of two, a slow fill) breaks a window that reaches
// past L, and R moves after it.

// Judgement is what the samples known so far say of one SLO's recovery.
type Judgement struct {
	At        time.Time // recovery instant, tentative until Confirmed; zero: not recovering
	Confirmed bool      // every window from At to max(At, L)+hold held, and all of it was observed
	// ConfirmEnd is max(At, L) + hold: when confirmation is (or will be) complete.
	ConfirmEnd time.Time
	RelapsedAt time.Time // the first bad sample of the first window that broke after confirmation
	Done       bool      // confirmed, and the relapse watch is over or relapsed
	// GapFrom, GapTo: a stretch longer than hold without a sample in the
	// span judged from At on: nothing was measured there.
	GapFrom, GapTo time.Time
}

// Judge judges one objective's recovery.
type Judge struct {
	O         Objective
	From      time.Time     // the recovery clock's start
	LastEvent time.Time     // the last fault event (L)
	Hold      time.Duration // recovery.hold_for
	Watch     time.Duration // recovery.observe_after

	// c, when set (Judges sets it), keeps what closed windows said across
	// the calls of one recovery, so that each call judges only the windows
	// that are new: a load probe gives a thousand samples a second, and
	// judging every window again at every poll would cost seconds.
	c *judgeCache
}

// judgeCache is what At learnt from windows that are closed: they ended
// before the last call's instant, so their samples no longer change.
type judgeCache struct {
	lbKnown bool
	lbFrom  bool      // the last broken window up to L is the one at From
	lbNone  bool      // none broke
	lbAt    time.Time // else: the end of the sample it starts at
	// The relapse watch for confirmation end E: windows starting before
	// relapseFrom held.
	relapseE    time.Time
	relapseFrom time.Time
}

// WithCache is j keeping what closed windows said across calls of At, for
// one recovery (samples served from the same From, growing).
func (j Judge) WithCache() Judge {
	j.c = &judgeCache{}
	return j
}

// At judges samples (o's probe's, End in [from, last], ordered by End)
// as they stand at last. Windows that end after last are judged on what
// they hold so far, so a tentative instant can still move.
func (j Judge) At(samples []probes.Sample, last time.Time) Judgement {
	return j.AtSeq(SliceSeq(samples), last)
}

// AtSeq is At over a sequence read in place (the engine's packed samples,
// through a View), so that no poll copies the samples it judges.
func (j Judge) AtSeq(samples Seq, last time.Time) Judgement {
	var out Judgement
	n := samples.Len()
	// first returns the index of the first sample known at or after t.
	first := func(t time.Time) int {
		return sort.Search(n, func(i int) bool { return !samples.At(i).End().Before(t) })
	}
	// held says whether the window starting at t holds, and the index
	// range of its samples.
	held := func(t time.Time) (ok bool, lo, hi int) {
		lo = first(t)
		end := t.Add(j.Hold)
		hi = sort.Search(n, func(i int) bool { return samples.At(i).End().After(end) })
		return j.O.FigureSeq(samples, lo, hi, nil).Held, lo, hi
	}
	L := j.LastEvent
	if L.Before(j.From) {
		L = j.From
	}
	// The last window starting at or before L that broke: -1 is the
	// window at from, -2 none.
	lb := -2
	switch c := j.c; {
	case c != nil && c.lbKnown && c.lbNone:
	case c != nil && c.lbKnown && c.lbFrom:
		lb = -1
	case c != nil && c.lbKnown:
		lb = first(c.lbAt)
	default:
		for i := first(L.Add(time.Nanosecond)) - 1; i >= 0; i-- {
			if ok, _, _ := held(samples.At(i).End()); !ok {
				lb = i
				break
			}
		}
		if lb == -2 {
			if ok, _, _ := held(j.From); !ok {
				lb = -1
			}
		}
		if c != nil && !last.Before(L.Add(j.Hold)) {
			// Every window starting up to L is closed: lb is final.
			c.lbKnown, c.lbNone, c.lbFrom = true, lb == -2, lb == -1
			if lb >= 0 {
				c.lbAt = samples.At(lb).End()
			}
		}
	}
	// R: from when nothing broke, else the first ok sample after lb
	// whose own window holds.
	ri := -1
	if lb == -2 {
		out.At = j.From
	} else {
		for k := lb + 1; k < n; k++ {
			if samples.At(k).OK {
				if ok, _, _ := held(samples.At(k).End()); ok {
					ri = k
					break
				}
			}
		}
		if ri < 0 {
			return out
		}
		out.At = samples.At(ri).End()
	}
	E := out.At
	if L.After(E) {
		E = L
	}
	out.ConfirmEnd = E.Add(j.Hold)
	watchEnd := out.ConfirmEnd.Add(j.Watch)
	out.GapFrom, out.GapTo = gapIn(samples, out.At, minTime(last, watchEnd), j.Hold)
	if last.Before(out.ConfirmEnd) {
		return out
	}
	out.Confirmed = true
	// The relapse watch: windows starting after E, up to E+watch, each
	// judged once it is complete (and, with a cache, once only).
	start := first(E.Add(time.Nanosecond))
	if c := j.c; c != nil && c.relapseE.Equal(E) && !c.relapseFrom.IsZero() {
		start = max(start, first(c.relapseFrom))
	}
	for i := start; i < n; i++ {
		t := samples.At(i).End()
		if t.After(E.Add(j.Watch)) || t.Add(j.Hold).After(last) {
			break
		}
		if ok, lo, hi := held(t); !ok {
			out.RelapsedAt = j.firstBad(samples, lo, hi)
			out.Done = true
			return out
		}
		if c := j.c; c != nil {
			c.relapseE, c.relapseFrom = E, t.Add(time.Nanosecond)
		}
	}
	out.Done = !last.Before(watchEnd)
	return out
}

// firstBad is the end of the first sample of a broken window [lo, hi)
// that failed or missed the latency objective: where the breach shows.
func (j Judge) firstBad(sq Seq, lo, hi int) time.Time {
	for i := lo; i < hi; i++ {
		if s := sq.At(i); !s.OK || (j.O.Percentile > 0 && s.Latency >= j.O.LatencyMax) {
			return s.End()
		}
	}
	return sq.At(hi - 1).End()
}

// gapIn finds the first stretch in [from, to] longer than hold without a
// sample known in it.
func gapIn(sq Seq, from, to time.Time, hold time.Duration) (time.Time, time.Time) {
	prev := from
	lo, hi := Bounds(sq, from, to)
	for i := lo; i < hi; i++ {
		end := sq.At(i).End()
		if end.Sub(prev) > hold {
			return prev, end
		}
		prev = end
	}
	if to.Sub(prev) > hold {
		return prev, to
	}
	return time.Time{}, time.Time{}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
