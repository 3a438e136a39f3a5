package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/chaosctl/chaosctl/experiments"
	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/scenarios"
)

// maxReplay bounds the events kept for late subscribers (samples are not
// kept).
const maxReplay = 20000

// activeRun is a run in progress: a live view of its journal and the
// fan-out of its events to API streams.
type activeRun struct {
	id, scenario, trigger string
	cancel                context.CancelCauseFunc
	done                  chan struct{}

	mu     sync.Mutex
	j      journal.Journal // live view: phases, faults, verdict
	events []experiments.Event
	subs   map[chan experiments.Event]struct{}
	final  *journal.Journal
}

func newActiveRun(id string, sc *scenarios.Scenario, trigger string, cancel context.CancelCauseFunc) *activeRun {
	return &activeRun{
		id: id, scenario: sc.Name, trigger: trigger, cancel: cancel, done: make(chan struct{}),
		subs: map[chan experiments.Event]struct{}{},
		j: journal.Journal{
			Format: journal.FormatVersion, RunID: id, Scenario: sc.Name, ScenarioPath: sc.Path, ScenarioHash: sc.Hash,
			StartedAt: time.Now(), Verdict: journal.Running, Phases: []journal.Phase{}, Faults: []journal.Fault{},
			Samples: []probes.Sample{}, Reasons: []string{}, Labels: map[string]string{"trigger": trigger},
		},
	}
}

// snapshot is a copy of the journal as it stands.
func (r *activeRun) snapshot() *journal.Journal {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.final != nil {
		return r.final
	}
	j := r.j
	j.Phases = slices.Clone(r.j.Phases)
	j.Faults = slices.Clone(r.j.Faults)
	return &j
}

func (r *activeRun) observe(ev experiments.Event, m *Metrics, scenario string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev.Kind {
	case experiments.EventSample:
		m.ProbeLatency.WithLabelValues(scenario, ev.Sample.Probe).Observe(ev.Sample.Latency.Seconds())
	case experiments.EventPhase:
		if n := len(r.j.Phases); n > 0 && r.j.Phases[n-1].Ended.IsZero() {
			r.j.Phases[n-1].Ended = ev.Time
		}
		r.j.Phases = append(r.j.Phases, journal.Phase{Name: ev.Phase, Started: ev.Time})
	case experiments.EventFault:
		i := slices.IndexFunc(r.j.Faults, func(f journal.Fault) bool { return f.ID == ev.Fault.ID })
		if i < 0 {
			r.j.Faults = append(r.j.Faults, *ev.Fault)
		} else {
			r.j.Faults[i] = *ev.Fault
		}
	case experiments.EventVerdict:
		// The verdict is final once the journal is stored (finish); until
		// then the run reads as running, so nobody mistakes this partial
		// view for the journal.
		r.j.Reasons = ev.Reasons
	}
	if ev.Kind != experiments.EventSample && len(r.events) < maxReplay {
		r.events = append(r.events, ev)
	}
	for ch := range r.subs {
		select {
		case ch <- ev:
		default:
			if ev.Kind != experiments.EventSample {
				// A client too slow for the progress events: end its
				// stream; it can fetch the journal.
				close(ch)
				delete(r.subs, ch)
			}
		}
	}
}

// subscribe returns the events so far and a channel of those to come; the
// channel is closed when the run ends.
func (r *activeRun) subscribe() ([]experiments.Event, chan experiments.Event, func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	past := slices.Clone(r.events)
	ch := make(chan experiments.Event, 4096)
	if r.final != nil {
		close(ch)
		return past, ch, func() {}
	}
	r.subs[ch] = struct{}{}
	return past, ch, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, ok := r.subs[ch]; ok {
			delete(r.subs, ch)
			close(ch)
		}
	}
}

func (r *activeRun) finish(j *journal.Journal) {
	r.mu.Lock()
	r.final = j
	for ch := range r.subs {
		close(ch)
		delete(r.subs, ch)
	}
	r.mu.Unlock()
	close(r.done)
}

// sampleLog creates run id's sample log in the store's directory. Without
// one (it could not be created: logged) the run's journal keeps every
// sample, as before there were logs.
func (d *Daemon) sampleLog(id string, log zerolog.Logger) experiments.SampleSink {
	l, err := d.store.CreateSampleLog(id)
	if err != nil {
		log.Error().Err(err).Msg("no sample log: the journal keeps every sample")
		return nil // not a nil *journal.SampleLog in an interface
	}
	return l
}

// ErrBadResolution is a GET /v1/runs/{id} resolution or points that is
// not one.
var ErrBadResolution = errors.New("bad sample resolution")

// Resolution bounds of GET /v1/runs/{id}.
const (
	minResolution = time.Millisecond
	maxPoints     = 100000
)

// thinned is j with its samples thinned as q asks: resolution=1s (a
// bucket width) or points=2000 (buckets over the run). Each bucket keeps
// its first failure and its fastest and slowest ok samples
// (journal.Thinner), read from the run's sample log when it has one, so
// a finer resolution than the stored journal's comes back from disk.
// Without either, j as stored.
func thinned(j *journal.Journal, q url.Values) (*journal.Journal, error) {
	res, pts := q.Get("resolution"), q.Get("points")
	if res == "" && pts == "" {
		return j, nil
	}
	if res != "" && pts != "" {
		return nil, fmt.Errorf("%w: give resolution or points, not both", ErrBadResolution)
	}
	from, to := j.StartedAt, j.EndedAt
	if to.IsZero() {
		to = time.Now()
	}
	var width time.Duration
	if res != "" {
		w, err := time.ParseDuration(res)
		if err != nil || w < minResolution {
			return nil, fmt.Errorf("%w: resolution %q: a duration of at least %s", ErrBadResolution, res, minResolution)
		}
		width = w
	} else {
		n, err := strconv.Atoi(pts)
		if err != nil || n < 1 || n > maxPoints {
			return nil, fmt.Errorf("%w: points %q: a number from 1 to %d", ErrBadResolution, pts, maxPoints)
		}
		width = journal.ThinWidth(from, to, n)
	}
	buckets := int(to.Sub(from)/width) + 1
	th := journal.NewThinner(from, width, 2*buckets)
	out := *j
	out.SampleResolution = width
	out.SamplesTotal = len(j.Samples)
	if j.SampleLog != "" {
		n := 0
		err := journal.ReadSampleLog(j.SampleLog, func(s probes.Sample) error { n++; th.Add(s); return nil })
		switch {
		case err == nil:
			out.SamplesTotal = n
			out.Samples = th.Samples()
			return whole(&out), nil
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("run %s: %w", j.RunID, err)
		}
		// The log is gone: thin what the journal has.
		th = journal.NewThinner(from, width, 2*buckets)
		out.SamplesTotal = j.SamplesTotal
	}
	for _, s := range j.Samples {
		th.Add(s)
	}
	out.Samples = th.Samples()
	if out.SamplesTotal == 0 {
		out.SamplesTotal = len(j.Samples)
	}
	return whole(&out), nil
}

// whole says the samples are complete when thinning kept all of them: a
// short run reads as it always did.
func whole(out *journal.Journal) *journal.Journal {
	if len(out.Samples) == out.SamplesTotal {
		out.SamplesTotal, out.SampleResolution = 0, 0
	}
	return out
}
