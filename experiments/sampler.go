package experiments

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/chaosctl/chaosctl/probes"
)

// recorder keeps every sample of a run, per probe, ordered by the instant
// its outcome became known (Sample.End), which is what SLO windows and
// recovery use. Windows are found by binary search, so evaluating an SLO
// costs its window, not the run's length.
type recorder struct {
	mu      sync.RWMutex
	byProbe map[string][]probes.Sample
	n       int
	notify  func(probes.Sample)
}

func (r *recorder) add(s probes.Sample) {
	r.mu.Lock()
	if r.byProbe == nil {
		r.byProbe = map[string][]probes.Sample{}
	}
	ss := r.byProbe[s.Probe]
	i := len(ss)
	for i > 0 && ss[i-1].End().After(s.End()) {
		i--
	}
	ss = append(ss, probes.Sample{})
	copy(ss[i+1:], ss[i:])
	ss[i] = s
	r.byProbe[s.Probe] = ss
	r.n++
	r.mu.Unlock()
	if r.notify != nil {
		r.notify(s)
	}
}

// window returns a copy of probe's samples known in [from, to].
func (r *recorder) window(probe string, from, to time.Time) []probes.Sample {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(between(r.byProbe[probe], from, to))
}

// snapshot returns every sample so far, ordered by start time.
func (r *recorder) snapshot() []probes.Sample {
	r.mu.RLock()
	out := make([]probes.Sample, 0, r.n)
	for _, ss := range r.byProbe {
		out = append(out, ss...)
	}
	r.mu.RUnlock()
	slices.SortStableFunc(out, func(a, b probes.Sample) int { return a.Time.Compare(b.Time) })
	return out
}

// maxInFlight bounds concurrent attempts of one probe: a hung target must
// not turn a 10 Hz probe into an unbounded goroutine pile.
const maxInFlight = 64

// sample runs p every interval until ctx ends. Attempts overlap when the
// target is slow (so an outage shows up as failures at the probe's rate,
// not as one long attempt), up to maxInFlight; a tick with every attempt
// slot busy is skipped.
//
// Attempts run on worker goroutines that wait for the next tick once their
// attempt is done, rather than on a new goroutine per attempt: a fresh
// goroutine grows its stack again through the whole probe call every time,
// which was a tenth of the CPU of 100 HTTP probes at 10 Hz.
func sample(ctx context.Context, name string, p probes.Prober, interval, timeout time.Duration, rec *recorder) {
	var wg sync.WaitGroup
	defer wg.Wait()
	ticks := make(chan struct{}) // unbuffered: a send succeeds only when a worker is idle
	attempt := func() {
		actx, cancel := context.WithTimeout(ctx, timeout)
		s := p.Probe(actx)
		cancel()
		if ctx.Err() != nil {
			return // the run is over; a cancelled attempt says nothing about the target
		}
		s.Probe = name
		rec.add(s)
	}
	worker := func() {
		defer wg.Done()
		for {
			attempt()
			select {
			case <-ctx.Done():
				return
			case <-ticks:
			}
		}
	}
	workers := 0
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case ticks <- struct{}{}:
		default:
			if workers < maxInFlight {
				workers++
				wg.Add(1)
				go worker()
			}
			// else every slot is busy: skip this tick
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
