package batchloader

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pipechaos/pipechaos/connectors/internal/promreg"
)

// metrics are the job's Prometheus metrics, prefixed pipechaos_batchloader_
// and labelled with the job's name as "process", plus the freshness SLI
// pipeline_lag_seconds (see freshness.go).
type metrics struct {
	reg *prometheus.Registry

	runs         *prometheus.CounterVec // result: success, failure
	lastRecords  prometheus.Gauge
	records      prometheus.Counter
	objects      prometheus.Counter
	bytes        prometheus.Counter
	reconciled   prometheus.Counter
	commitErrors prometheus.Counter
	bookmark     *prometheus.GaugeVec // partition
	lastSuccess  prometheus.Gauge
}

func newMetrics(process string, extra prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"process": process}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "pipechaos", Subsystem: "batchloader", Name: name, Help: help, ConstLabels: labels})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "pipechaos", Subsystem: "batchloader", Name: name, Help: help, ConstLabels: labels})
	}
	m := &metrics{
		reg:          prometheus.NewRegistry(),
		runs:         prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pipechaos", Subsystem: "batchloader", Name: "runs_total", Help: "Runs by result: success, failure.", ConstLabels: labels}, []string{"result"}),
		lastRecords:  gauge("last_run_records", "Records loaded by the last successful run."),
		records:      counter("records_loaded_total", "Records written to the bucket by successful runs."),
		objects:      counter("objects_written_total", "Objects written (including those of runs that failed later)."),
		bytes:        counter("bytes_written_total", "Bytes of objects written."),
		reconciled:   counter("reconciled_partitions_total", "Partitions found without a bookmark and resumed from the group's committed offset or the earliest offset."),
		commitErrors: counter("group_commit_errors_total", "Failed commits of the bookmarks to the group."),
		bookmark:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "pipechaos", Subsystem: "batchloader", Name: "bookmark_offset", Help: "Next offset to load, per partition in the bookmark file the last run wrote.", ConstLabels: labels}, []string{"partition"}),
		lastSuccess:  gauge("last_success_timestamp_seconds", "Unix time of the last successful run."),
	}
	for _, r := range []string{"success", "failure"} {
		m.runs.WithLabelValues(r)
	}
	err := m.register(nil, extra, m.runs, m.lastRecords, m.records, m.objects, m.bytes, m.reconciled, m.commitErrors, m.bookmark, m.lastSuccess)
	return m, err
}

// register adds cs (and c, if not nil) to the job's registry and to extra.
func (m *metrics) register(c prometheus.Collector, extra prometheus.Registerer, cs ...prometheus.Collector) error {
	if c != nil {
		cs = append(cs, c)
	}
	if err := promreg.Register(m.reg, extra, cs...); err != nil {
		return fmt.Errorf("register metrics (is another job of the same name registered there?): %w", err)
	}
	return nil
}

func (m *metrics) observeRun(r Report) {
	if !r.Success {
		m.runs.WithLabelValues("failure").Inc()
		return
	}
	m.runs.WithLabelValues("success").Inc()
	m.lastRecords.Set(float64(r.Records))
	m.lastSuccess.SetToCurrentTime()
}

// setBookmarks shows exactly the partitions of the file just written: a
// partition the file lost disappears from the gauge too.
func (m *metrics) setBookmarks(bm map[int32]int64) {
	m.bookmark.Reset()
	for p, o := range bm {
		m.bookmark.WithLabelValues(strconv.Itoa(int(p))).Set(float64(o))
	}
}

// Metrics is the job's own registry.
func (j *Job) Metrics() *prometheus.Registry { return j.m.reg }

// Handler serves the job's metrics for /metrics.
func (j *Job) Handler() http.Handler {
	return promhttp.HandlerFor(j.m.reg, promhttp.HandlerOpts{})
}
