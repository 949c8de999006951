package s3sink

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pipechaos/pipechaos/connectors/internal/promreg"
)

// Flush reasons, the "reason" label of pipechaos_s3sink_flushes_total.
const (
	reasonSize   = "size"   // a buffer reached FlushSize
	reasonBytes  = "bytes"  // the byte budget FlushBytes would be exceeded
	reasonRotate = "rotate" // RotateInterval passed
	reasonSchema = "schema" // the writer schema id changed
	reasonRoute  = "route"  // a transform routed to another prefix
	reasonRevoke = "revoke" // the partition is being revoked
	reasonDrain  = "drain"  // Flush or Drain asked for it
)

// metrics are the sink's Prometheus metrics, all prefixed pipechaos_s3sink_
// and labelled with the sink's process name.
type metrics struct {
	reg *prometheus.Registry

	consumed       prometheus.Counter
	written        prometheus.Counter
	bytesWritten   prometheus.Counter
	objects        prometheus.Counter
	deadLetters    prometheus.Counter
	filtered       prometheus.Counter
	flushes        *prometheus.CounterVec // reason
	retries        *prometheus.CounterVec // op: put, registry, commit
	retryBudget    prometheus.Gauge
	commits        prometheus.Counter
	bufferedBytes  prometheus.Gauge
	bufferedRecs   prometheus.Gauge
	lag            *prometheus.GaugeVec   // partition
	rebalances     *prometheus.CounterVec // kind: assigned, revoked, lost
	decodeErrors   *prometheus.CounterVec // reason: wire, schema, avro
	transformErrs  prometheus.Counter
	lastWriteEpoch prometheus.Gauge
}

func newMetrics(process string, extra prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"process": process}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "pipechaos", Subsystem: "s3sink", Name: name, Help: help, ConstLabels: labels})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "pipechaos", Subsystem: "s3sink", Name: name, Help: help, ConstLabels: labels})
	}
	counterVec := func(name, help, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pipechaos", Subsystem: "s3sink", Name: name, Help: help, ConstLabels: labels}, []string{label})
	}
	m := &metrics{
		reg:            prometheus.NewRegistry(),
		consumed:       counter("records_consumed_total", "Records received from Kafka (redeliveries within one assignment excluded)."),
		written:        counter("records_written_total", "Records written to Avro objects."),
		bytesWritten:   counter("bytes_written_total", "Bytes of objects written (Avro and dead-letter)."),
		objects:        counter("objects_written_total", "Objects written (Avro and dead-letter)."),
		deadLetters:    counter("dead_letter_records_total", "Records written to dead-letter objects."),
		filtered:       counter("records_filtered_total", "Records dropped by a transform (committed, not written)."),
		flushes:        counterVec("flushes_total", "Buffer flushes by reason: size, bytes, rotate, schema, route, revoke, drain.", "reason"),
		retries:        counterVec("retries_total", "Retries by operation: put (store writes), registry (schema lookups), commit (offset commits).", "op"),
		retryBudget:    gauge("retry_budget_remaining", "Retries of store writes and schema lookups left for the run."),
		commits:        counter("commits_total", "Successful offset commits."),
		bufferedBytes:  gauge("buffered_bytes", "Bytes held in buffers, including those being written."),
		bufferedRecs:   gauge("buffered_records", "Records held in buffers, including those being written."),
		lag:            prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "pipechaos", Subsystem: "s3sink", Name: "consumer_lag", Help: "Records between the committed offset and the high watermark of the last fetch, per assigned partition.", ConstLabels: labels}, []string{"partition"}),
		rebalances:     counterVec("rebalances_total", "Partition assignment changes by kind: assigned, revoked, lost.", "kind"),
		decodeErrors:   counterVec("decode_errors_total", "Records that could not be decoded, by reason: wire (not the wire format), schema (unknown or unusable schema id), avro (does not match its schema).", "reason"),
		transformErrs:  counter("transform_errors_total", "Records a transform failed on (sent to the dead-letter object)."),
		lastWriteEpoch: gauge("last_write_timestamp_seconds", "Unix time of the last object written: the freshness of the sink's output."),
	}
	cs := []prometheus.Collector{m.consumed, m.written, m.bytesWritten, m.objects, m.deadLetters, m.filtered,
		m.flushes, m.retries, m.retryBudget, m.commits, m.bufferedBytes, m.bufferedRecs, m.lag, m.rebalances,
		m.decodeErrors, m.transformErrs, m.lastWriteEpoch}
	if err := promreg.Register(m.reg, extra, cs...); err != nil {
		return nil, fmt.Errorf("register metrics (is another sink with process %q registered there?): %w", process, err)
	}
	return m, nil
}

// Metrics is the sink's own registry.
func (s *Sink) Metrics() *prometheus.Registry { return s.m.reg }

// Handler serves the sink's metrics for /metrics.
func (s *Sink) Handler() http.Handler {
	return promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{})
}
