package failover

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pipechaos/pipechaos/connectors/internal/promreg"
)

// metrics are the producer's Prometheus metrics, all prefixed
// pipechaos_failover_ and labelled with the producer's process name.
type metrics struct {
	reg *prometheus.Registry

	attempts   *prometheus.CounterVec // region
	acks       *prometheus.CounterVec // region
	failures   *prometheus.CounterVec // region
	failovers  *prometheus.CounterVec // primary_outcome: failed, indeterminate
	errors     prometheus.Counter
	duplicates prometheus.Counter
}

func newMetrics(process string, extra prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"process": process}
	vec := func(name, help, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pipechaos", Subsystem: "failover", Name: name, Help: help, ConstLabels: labels}, []string{label})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "pipechaos", Subsystem: "failover", Name: name, Help: help, ConstLabels: labels})
	}
	m := &metrics{
		reg:       prometheus.NewRegistry(),
		attempts:  vec("produce_attempts_total", "Records sent to a region, by region.", "region"),
		acks:      vec("produce_acks_total", "Records a region acknowledged, by region.", "region"),
		failures:  vec("produce_failures_total", "Records a region did not acknowledge (error, timeout, retries exhausted), by region.", "region"),
		failovers: vec("failovers_total", "Records sent to the secondary region after the primary failed, by the primary attempt's outcome: failed (definitely not written) or indeterminate (may have been written).", "primary_outcome"),
		errors:    counter("errors_total", "Records returned to the caller as errors: no region acknowledged them."),
		duplicates: counter("possible_duplicates_total",
			"Records the secondary acknowledged after a primary attempt with an unknown outcome: they may exist in both regions."),
	}
	cs := []prometheus.Collector{m.attempts, m.acks, m.failures, m.failovers, m.errors, m.duplicates}
	if err := promreg.Register(m.reg, extra, cs...); err != nil {
		return nil, fmt.Errorf("register metrics (is another producer with process %q registered there?): %w", process, err)
	}
	return m, nil
}

// Metrics is the producer's own registry.
func (p *Producer) Metrics() *prometheus.Registry { return p.m.reg }

// Handler serves the producer's metrics for /metrics.
func (p *Producer) Handler() http.Handler {
	return promhttp.HandlerFor(p.m.reg, promhttp.HandlerOpts{})
}
