package runbooks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/scenarios"
	"github.com/chaosctl/chaosctl/slo"
)

// runWait polls the run's samples until the SLO holds over its window
// (counting samples since the disaster) or the probe answers ok, up to the
// step's timeout.
func runWait(ctx context.Context, st scenarios.Step, e *env) (outcome, error) {
	started := time.Now()
	check := func(now time.Time) (bool, string) { return probeOK(e.samples(st.Probe, started, now), st.Probe) }
	if st.SLO != "" {
		var want scenarios.SLO
		for _, s := range e.sc.SLOs {
			if s.Name == st.SLO {
				want = s
			}
		}
		check = func(now time.Time) (bool, string) {
			from := now.Add(-want.Window.Duration)
			if from.Before(e.disasterAt) {
				from = e.disasterAt
			}
			f := slo.Evaluate(want, e.samples, from, now)
			return f.Held, fmt.Sprintf("SLO %s: availability %.1f%%, p99 %s over %d samples", want.Name, f.Availability, f.P99.Round(time.Millisecond), f.Samples)
		}
	}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		ok, state := check(time.Now().Add(-slo.Settle))
		if ok {
			return outcome{detail: fmt.Sprintf("after %s: %s", time.Since(started).Round(time.Millisecond), state)}, nil
		}
		select {
		case <-ctx.Done():
			return outcome{detail: state}, errors.New("still waiting: " + state)
		case <-tick.C:
		}
	}
}

// probeOK reports whether the latest of probe's samples (ordered by when
// their outcome was known) is ok.
func probeOK(samples []probes.Sample, probe string) (bool, string) {
	if len(samples) == 0 {
		return false, "probe " + probe + ": no sample yet"
	}
	if s := samples[len(samples)-1]; !s.OK {
		return false, "probe " + probe + ": " + s.Err
	}
	return true, "probe " + probe + " ok"
}
