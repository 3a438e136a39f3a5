package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are what /metrics exposes. They live in the daemon's own
// registry, not a global one.
type Metrics struct {
	Registry         *prometheus.Registry
	Runs             *prometheus.CounterVec   // by scenario and verdict
	RunDuration      *prometheus.HistogramVec // by scenario
	TimeToRecover    *prometheus.HistogramVec // by scenario
	ActiveRuns       prometheus.Gauge
	ProbeLatency     *prometheus.HistogramVec // by scenario and probe
	PluginRestarts   *prometheus.CounterVec   // by plugin; the plugin host increments it
	ScheduledSkipped *prometheus.CounterVec   // by scenario and reason
	Scenarios        prometheus.Gauge
	ScenarioErrors   prometheus.Gauge
	Halted           prometheus.Gauge
}

func newMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chaosctl_runs_total", Help: "Finished runs by scenario and verdict.",
		}, []string{"scenario", "verdict"}),
		RunDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chaosctl_run_duration_seconds", Help: "Wall time of finished runs.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}, []string{"scenario"}),
		TimeToRecover: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chaosctl_time_to_recover_seconds", Help: "Measured time to recover of runs that recovered.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 12),
		}, []string{"scenario"}),
		ActiveRuns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chaosctl_active_runs", Help: "Runs in progress.",
		}),
		ProbeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chaosctl_probe_latency_seconds", Help: "Latency of probe samples during runs.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"scenario", "probe"}),
		PluginRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chaosctl_plugin_restarts_total", Help: "Fault plugin processes restarted after they died.",
		}, []string{"plugin"}),
		ScheduledSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chaosctl_scheduled_runs_skipped_total", Help: "Scheduled runs not started, by reason.",
		}, []string{"scenario", "reason"}),
		Scenarios: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chaosctl_scenarios_loaded", Help: "Valid scenarios loaded.",
		}),
		ScenarioErrors: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chaosctl_scenario_files_invalid", Help: "Scenario files that failed to load.",
		}),
		Halted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chaosctl_halted", Help: "1 while the kill switch is on.",
		}),
	}
	m.Registry.MustRegister(m.Runs, m.RunDuration, m.TimeToRecover, m.ActiveRuns, m.ProbeLatency,
		m.PluginRestarts, m.ScheduledSkipped, m.Scenarios, m.ScenarioErrors, m.Halted,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ledgerGauges counts faults from the ledger itself, so the figures are
// true whatever happened (a failed revert, a retry, a restart): active
// faults are injected and not reverted; unreverted ones failed to revert
// (and are retried) or are in an unknown state.
func (m *Metrics) ledgerGauges(count func(active bool) float64) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chaosctl_active_faults", Help: "Faults injected and not reverted (failed reverts included), from the ledger.",
		}, func() float64 { return count(true) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chaosctl_faults_unreverted", Help: "Faults whose revert failed (the daemon retries them) or whose state is unknown; see chaosctl faults.",
		}, func() float64 { return count(false) }),
	)
}
