package headerfilter

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pipechaos/pipechaos/connectors/internal/promreg"
)

// metrics are the filter's Prometheus metrics, labelled with its process.
type metrics struct {
	reg        *prometheus.Registry
	exceptions *prometheus.CounterVec // reason
	routed     *prometheus.CounterVec // route
}

func newMetrics(process string, extra prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"process": process}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		exceptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "pipechaos", Subsystem: "filter", Name: "exceptions_total", ConstLabels: labels,
			Help: "Records whose routing header could not be routed, by reason: absent, null, malformed. They took the default route; alert on this.",
		}, []string{"reason"}),
		routed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "pipechaos", Subsystem: "filter", Name: "routed_total", ConstLabels: labels,
			Help: "Records routed, by route.",
		}, []string{"route"}),
	}
	// Every reason is exported from the start: a zero is a reading, a
	// missing series is a filter nobody deployed.
	for _, r := range []string{ReasonAbsent, ReasonNull, ReasonMalformed} {
		m.exceptions.WithLabelValues(r)
	}
	if err := promreg.Register(m.reg, extra, m.exceptions, m.routed); err != nil {
		return nil, fmt.Errorf("register metrics (is another filter with process %q registered there?): %w", process, err)
	}
	return m, nil
}

// Metrics is the filter's own registry.
func (f *Filter) Metrics() *prometheus.Registry { return f.m.reg }

// Handler serves the filter's metrics for /metrics.
func (f *Filter) Handler() http.Handler {
	return promhttp.HandlerFor(f.m.reg, promhttp.HandlerOpts{})
}

// Exceptions is the count of exceptions by reason, read from the metric.
func (f *Filter) Exceptions() map[string]int {
	out := map[string]int{}
	mfs, err := f.m.reg.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != "pipechaos_filter_exceptions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "reason" {
					out[lp.GetValue()] = int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return out
}
