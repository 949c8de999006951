package autoscaler

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pipechaos/pipechaos/connectors/internal/promreg"
)

// metrics are the pool's Prometheus metrics, all prefixed
// pipechaos_autoscaler_ and labelled with the consumer group.
type metrics struct {
	reg *prometheus.Registry

	workers     prometheus.Gauge
	desired     prometheus.Gauge
	scaleEvents *prometheus.CounterVec // direction: up, down
	evaluations prometheus.Counter
	lag         prometheus.Gauge
	throughput  prometheus.Gauge
}

// The names of the metrics summed from the workers' own registries.
const (
	sinkConsumed   = "pipechaos_s3sink_records_consumed_total"
	sinkRebalances = "pipechaos_s3sink_rebalances_total"
)

func newMetrics(p *Pool, group string, extra prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"group": group}
	opts := func(name, help string) (string, string, string, string, prometheus.Labels) {
		return "pipechaos", "autoscaler", name, help, labels
	}
	gauge := func(name, help string) prometheus.Gauge {
		ns, sub, n, h, l := opts(name, help)
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: n, Help: h, ConstLabels: l})
	}
	m := &metrics{
		reg:     prometheus.NewRegistry(),
		workers: gauge("workers", "Workers (consumer-group members) running."),
		desired: gauge("desired_workers", "Workers the policy asked for at the last evaluation, clamped to the pool's bounds."),
		scaleEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pipechaos", Subsystem: "autoscaler", Name: "scale_events_total",
			Help: "Workers started (up) and stopped (down) by the pool: each one is a group membership change, so a rebalance.", ConstLabels: labels}, []string{"direction"}),
		evaluations: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "pipechaos", Subsystem: "autoscaler", Name: "evaluations_total",
			Help: "Policy evaluations.", ConstLabels: labels}),
		lag:        gauge("lag_records", "The group's committed lag at the last evaluation, as the policy saw it (-1: not measured)."),
		throughput: gauge("throughput_records_per_second", "Records per second the workers consumed over the throughput window, at the last evaluation."),
	}
	sums := &sinkSums{p: p,
		consumed: prometheus.NewDesc("pipechaos_autoscaler_records_consumed_total",
			"Records the workers consumed, summed over every worker the pool ever ran (a record consumed again after a rebalance counts again).", nil, labels),
		rebalances: prometheus.NewDesc("pipechaos_autoscaler_rebalances_total",
			"Partition assignment changes the workers lived through, summed over every worker the pool ever ran, by kind: assigned, revoked (the member flushed, committed and stopped consuming those partitions), lost.", []string{"kind"}, labels),
	}
	cs := []prometheus.Collector{m.workers, m.desired, m.scaleEvents, m.evaluations, m.lag, m.throughput, sums}
	if err := promreg.Register(m.reg, extra, cs...); err != nil {
		return nil, fmt.Errorf("register metrics (is another pool of group %q registered there?): %w", group, err)
	}
	for _, d := range []string{"up", "down"} {
		m.scaleEvents.WithLabelValues(d)
	}
	return m, nil
}

// sinkSums collects, at scrape time, the workers' consumption and rebalance
// counters summed from each worker's own registry.
type sinkSums struct {
	p                    *Pool
	consumed, rebalances *prometheus.Desc
}

func (s *sinkSums) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.consumed
	ch <- s.rebalances
}

func (s *sinkSums) Collect(ch chan<- prometheus.Metric) {
	consumed, rb := s.p.sinkTotals()
	ch <- prometheus.MustNewConstMetric(s.consumed, prometheus.CounterValue, consumed)
	for _, kind := range []string{"assigned", "revoked", "lost"} {
		ch <- prometheus.MustNewConstMetric(s.rebalances, prometheus.CounterValue, rb[kind], kind)
	}
}

// sinkTotals sums the consumed records and the rebalances (by kind) of every
// worker the pool ever ran.
func (p *Pool) sinkTotals() (consumed float64, rebalances map[string]float64) {
	p.mu.Lock()
	ws := append([]*worker(nil), p.all...)
	p.mu.Unlock()
	rebalances = map[string]float64{}
	for _, w := range ws {
		mfs, err := w.sink.Metrics().Gather()
		if err != nil {
			continue
		}
		for _, mf := range mfs {
			switch mf.GetName() {
			case sinkConsumed:
				for _, m := range mf.GetMetric() {
					consumed += m.GetCounter().GetValue()
				}
			case sinkRebalances:
				for _, m := range mf.GetMetric() {
					for _, l := range m.GetLabel() {
						if l.GetName() == "kind" {
							rebalances[l.GetValue()] += m.GetCounter().GetValue()
						}
					}
				}
			}
		}
	}
	return consumed, rebalances
}
