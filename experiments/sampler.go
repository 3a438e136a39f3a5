package experiments

import (
	"context"
	"sync"
	"time"

	"github.com/chaosctl/chaosctl/probes"
)

// recorder keeps every sample of a run ordered by the instant its outcome
// became known (Sample.End), which is what SLO windows and recovery use.
type recorder struct {
	mu      sync.Mutex
	samples []probes.Sample
	notify  func(probes.Sample)
}

func (r *recorder) add(s probes.Sample) {
	r.mu.Lock()
	i := len(r.samples)
	for i > 0 && r.samples[i-1].End().After(s.End()) {
		i--
	}
	r.samples = append(r.samples, probes.Sample{})
	copy(r.samples[i+1:], r.samples[i:])
	r.samples[i] = s
	r.mu.Unlock()
	if r.notify != nil {
		r.notify(s)
	}
}

// snapshot returns a copy of the samples so far.
func (r *recorder) snapshot() []probes.Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]probes.Sample(nil), r.samples...)
}

// maxInFlight bounds concurrent attempts of one probe: a hung target must
// not turn a 10 Hz probe into an unbounded goroutine pile.
const maxInFlight = 64

// sample runs p every interval until ctx ends. Attempts overlap when the
// target is slow (so an outage shows up as failures at the probe's rate,
// not as one long attempt), up to maxInFlight.
func sample(ctx context.Context, name string, p probes.Prober, interval, timeout time.Duration, rec *recorder) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, maxInFlight)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case slots <- struct{}{}:
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				actx, cancel := context.WithTimeout(ctx, timeout)
				s := p.Probe(actx)
				cancel()
				if ctx.Err() != nil {
					return // the run is over; a cancelled attempt says nothing about the target
				}
				s.Probe = name
				rec.add(s)
			}()
		default:
			// every slot busy: skip this tick
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
