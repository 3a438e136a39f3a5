package runbooks

import (
	"fmt"
	"time"

	"github.com/chaosctl/chaosctl/probes"
	"github.com/chaosctl/chaosctl/runbooks/steps"
	"github.com/chaosctl/chaosctl/scenarios"
	"github.com/chaosctl/chaosctl/slo"
)

// env is what a step may look at besides its own keys: the run's samples,
// judged against the scenario's SLOs. It is judged slo.Settle behind now,
// so that samples still in flight land first.
type env struct {
	sc         *scenarios.Scenario
	samples    slo.Samples
	disasterAt time.Time
	lastFault  time.Time // the last fault event: restoration is judged after it
}

var _ steps.Env = (*env)(nil)

// SLOHeld judges the SLO over its window, counting only samples taken
// since the disaster.
func (e *env) SLOHeld(name string) (bool, string) {
	var want scenarios.SLO
	for _, s := range e.sc.SLOs {
		if s.Name == name {
			want = s
		}
	}
	now := time.Now().Add(-slo.Settle)
	from := now.Add(-want.Window.Duration)
	if from.Before(e.disasterAt) {
		from = e.disasterAt
	}
	f := slo.Evaluate(want, e.samples, from, now)
	return f.Held, fmt.Sprintf("SLO %s: availability %.1f%%, p99 %s over %d samples", want.Name, f.Availability, f.P99.Round(time.Millisecond), f.Samples)
}

// ProbeOK looks at the latest of probe's samples (ordered by when their
// outcome was known) taken since since.
func (e *env) ProbeOK(probe string, since time.Time) (bool, string) {
	return probeOK(e.samples(probe, since, time.Now().Add(-slo.Settle)), probe)
}

func probeOK(samples []probes.Sample, probe string) (bool, string) {
	if len(samples) == 0 {
		return false, "probe " + probe + ": no sample yet"
	}
	if s := samples[len(samples)-1]; !s.OK {
		return false, "probe " + probe + ": " + s.Err
	}
	return true, "probe " + probe + " ok"
}
