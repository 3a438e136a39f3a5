package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

func init() {
	register(Kind{
		Name:        KindWait,
		Keys:        []string{"slo", "probe"},
		Spec:        waitStep{},
		NoDataCheck: "a wait proves nothing about it",
	})
}

// pollEvery is how often a wait looks at the samples again.
const pollEvery = 20 * time.Millisecond

// waitStep polls the run's samples until the SLO holds over its window
// (counting samples since the disaster) or the probe answers ok, up to the
// step's timeout.
type waitStep struct{}

var _ Spec = waitStep{}

func (waitStep) Validate(st *Step, refs Refs) []FieldError {
	switch {
	case (st.SLO == "") == (st.Probe == ""):
		return []FieldError{{Msg: "a wait step needs exactly one of slo (wait until it holds) or probe (wait until it answers ok)"}}
	case st.SLO != "" && !slices.Contains(refs.SLOs, st.SLO):
		return []FieldError{{Field: "slo", Msg: fmt.Sprintf("unknown SLO %q (defined: %s)", st.SLO, strings.Join(refs.SLOs, ", "))}}
	case st.Probe != "" && !slices.Contains(refs.Probes, st.Probe):
		return []FieldError{{Field: "probe", Msg: fmt.Sprintf("unknown probe %q (defined: %s)", st.Probe, strings.Join(refs.Probes, ", "))}}
	}
	return nil
}

func (waitStep) Run(ctx context.Context, st Step, env Env) (Outcome, error) {
	started := time.Now()
	check := func() (bool, string) { return env.ProbeOK(st.Probe, started) }
	if st.SLO != "" {
		check = func() (bool, string) { return env.SLOHeld(st.SLO) }
	}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		ok, state := check()
		if ok {
			return Outcome{Detail: fmt.Sprintf("after %s: %s", time.Since(started).Round(time.Millisecond), state)}, nil
		}
		select {
		case <-ctx.Done():
			return Outcome{Detail: state}, errors.New("still waiting: " + state)
		case <-tick.C:
		}
	}
}
