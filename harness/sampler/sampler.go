// Package sampler takes metric samples during a run and appends them to the
// history: consumer-group lag per partition, a sink's buffered bytes, the
// store's request count. Reports draw them as the run's timeline; checkers
// read them for freshness and budgets.
package sampler

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
)

// Emit records one sample.
type Emit func(metric string, labels map[string]string, v float64)

// Probe reads some metrics and emits them. It must return promptly when
// ctx is done.
type Probe func(ctx context.Context, emit Emit)

// Sampler runs probes on a period until stopped.
type Sampler struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start samples every period (default 100ms if zero) until Stop. Each probe
// runs once more at Stop so the timeline ends with the final state.
func Start(ctx context.Context, h *history.History, period time.Duration, probes ...Probe) *Sampler {
	if period <= 0 {
		period = 100 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Sampler{cancel: cancel}
	emit := func(metric string, labels map[string]string, v float64) { h.Sample(metric, labels, v) }
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			for _, p := range probes {
				p(ctx, emit)
			}
			select {
			case <-ctx.Done():
				final, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				for _, p := range probes {
					p(final, emit)
				}
				cancel()
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop takes a last sample and stops.
func (s *Sampler) Stop() {
	s.cancel()
	s.wg.Wait()
}

// GroupLag samples "lag" per partition of topic for a consumer group —
// the log end offset minus the group's committed offset, where a partition
// the group never committed counts whole — and "lag_total", through cl
// (which the caller owns). A group that never joined therefore shows every
// record as lag, not zero.
func GroupLag(cl *kgo.Client, group, topic string) Probe {
	adm := kadm.NewClient(cl)
	return func(ctx context.Context, emit Emit) {
		ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil || ends.Error() != nil {
			return
		}
		// An unknown group is an error here: it has committed nothing.
		committed, _ := adm.FetchOffsets(ctx, group)
		total := int64(0)
		ends.Each(func(o kadm.ListedOffset) {
			at := int64(0)
			if c, ok := committed.Lookup(topic, o.Partition); ok && c.Err == nil && c.At > 0 {
				at = c.At
			}
			lag := max(o.Offset-at, 0)
			emit("lag", map[string]string{"topic": topic, "partition": strconv.Itoa(int(o.Partition))}, float64(lag))
			total += lag
		})
		emit("lag_total", map[string]string{"topic": topic}, float64(total))
	}
}

// HTTPCost samples the counters of a fault layer as "<name>_requests",
// "<name>_bytes_in", "<name>_bytes_out", "<name>_errors_5xx".
func HTTPCost(name string, f env.HTTPFaults) Probe {
	return func(_ context.Context, emit Emit) {
		st := f.Stats()
		emit(name+"_requests", nil, float64(st.Requests))
		emit(name+"_bytes_in", nil, float64(st.BytesIn))
		emit(name+"_bytes_out", nil, float64(st.BytesOut))
		emit(name+"_errors_5xx", nil, float64(st.Errors5xx))
	}
}

// Prometheus samples the named gauges and counters of a registry (a
// connector's metrics) under their own names, with their labels.
func Prometheus(g prometheus.Gatherer, names ...string) Probe {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	return func(_ context.Context, emit Emit) {
		mfs, err := g.Gather()
		if err != nil {
			return
		}
		for _, mf := range mfs {
			if !want[mf.GetName()] {
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, lp := range m.GetLabel() {
					labels[lp.GetName()] = lp.GetValue()
				}
				if len(labels) == 0 {
					labels = nil
				}
				switch {
				case m.Gauge != nil:
					emit(mf.GetName(), labels, m.Gauge.GetValue())
				case m.Counter != nil:
					emit(mf.GetName(), labels, m.Counter.GetValue())
				}
			}
		}
	}
}
