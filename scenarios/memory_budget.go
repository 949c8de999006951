package scenarios

// Incident 4: heap exhaustion from huge batches.
//
// Symptom: the sink's workers were OOM-killed every 30 to 60 minutes; each
// restart consumed the same records again and died again. The production
// "fix" was a 7 GB heap.
//
// Root cause: flush.size was 10,000,000 records and a buffer was written
// only when it reached that count (or when the rotation interval passed).
// Records weigh tens of kilobytes, Avro deserialisation adds its overhead:
// long before any buffer reached its count, the bytes it held outgrew the
// 256–512 MB heap. The count bounded nothing (connectors/s3sink,
// buggy_memory.go: NewCountOnly).
//
// Fix: bound buffered bytes, not records. The fixed sink keeps a byte
// budget (FlushBytes) across all its partitions, in flight included: when a
// record would take the total past it, the largest buffer is written, and
// the poll loop takes no more records until writes bring the total back
// under it. A poll adds at most one fetch on top of the budget, so
// operators size FlushBytes with that headroom below the worker's memory.
//
// The scenario: both sinks run with the incident's flush size of 10M
// records and a long (10s) rotation; the fixed one also has FlushBytes of
// 2 MiB in a worker whose memory budget for buffers is 8 MiB. 480 records
// of 32 KiB (15 MiB) are produced as fast as Kafka takes them; then the
// sink is asked to write what it holds (its Drain, as on a graceful
// shutdown). The sink's
// buffered_bytes gauge is sampled into the history every 10ms; the peak is
// read back from the history. Asserted: the peak is within the budget (and
// was sampled at all), and every acked record is in the bucket exactly once.

import (
	"context"
	"fmt"
	"time"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/sampler"
	"github.com/pipechaos/pipechaos/harness/workload"
)

const (
	memTopic      = "clickstream"
	memRecords    = 480
	memPayload    = 32 << 10
	memFlushSize  = 10_000_000
	memFlushBytes = 2 << 20
	memBudget     = 8 << 20
	memRotate     = 10 * time.Second
	bufferedBytes = "pipechaos_s3sink_buffered_bytes"
)

var _ = register(&harness.Scenario{
	Name:     "memory-budget",
	Incident: 4,
	Title:    "Heap exhaustion from huge batches: a flush size in records bounds no bytes",
	Story: "Sink workers were OOM-killed every 30–60 minutes: flush.size was 10M records, buffered in memory " +
		"until the count was reached, and records of tens of kilobytes outgrew the heap long before. " +
		"Fix: bound the buffered bytes (FlushBytes across all partitions, in flight included) and stop polling " +
		"while writes catch up; a bigger heap only moves the crash.",
	Fault:  "a burst of 480 records of 32 KiB (15 MiB) into a sink whose flush size is 10M records",
	Checks: "peak of the sampled buffered_bytes gauge ≤ the 8 MiB memory budget; every acked record in the bucket exactly once",
	Budget: 20 * time.Second,
	Run:    runMemoryBudget,
})

func runMemoryBudget(ctx context.Context, r *harness.Run) error {
	if err := r.CreateTopic(ctx, env.Primary, memTopic, 3); err != nil {
		return err
	}
	build := ourSink(s3sink.New, func(c *s3sink.Config) {
		c.FlushSize, c.FlushBytes, c.RotateInterval = memFlushSize, memFlushBytes, memRotate
	})
	if r.Variant == harness.Buggy {
		build = ourSink(s3sink.NewCountOnly, func(c *s3sink.Config) {
			c.FlushSize, c.FlushBytes, c.RotateInterval = memFlushSize, memFlushBytes, memRotate
		})
	}
	r.Logf("the %s sink flushes at %d records or every %s, byte budget %s (count-only ignores it); "+
		"the worker's memory budget for buffers is %s", r.Variant, memFlushSize, memRotate, mib(memFlushBytes), mib(memBudget))
	sink, err := startSink(ctx, r, env.Primary, memTopic, "s3sink", build)
	if err != nil {
		return err
	}
	defer sink.stop()
	smp := r.Sample(ctx, r.StoreProbe(), sinkProbe(sink))
	defer smp.Stop()
	fine := sampler.Start(ctx, r.History, 10*time.Millisecond, sampler.Prometheus(sink.metrics(), bufferedBytes))
	defer fine.Stop()

	p, err := regionProducer(r, env.Primary)
	if err != nil {
		return err
	}
	defer p.close()
	if _, err := r.Produce(ctx, workload.Config{Topic: memTopic, Records: memRecords, PayloadBytes: memPayload, MaxInFlight: 64}, p); err != nil {
		return err
	}
	// The burst is over: like a worker's graceful shutdown, ask the sink
	// to write what it holds rather than wait for the rotation.
	if d, ok := sink.Sink.(interface{ Drain(context.Context) error }); ok {
		dctx, cancel := context.WithTimeout(ctx, 8*time.Second)
		if err := d.Drain(dctx); err != nil {
			r.Logf("the sink's own drain failed: %v", err)
		}
		cancel()
	}
	err = drainAndCheck(ctx, r, sink, memTopic, 8*time.Second)
	fine.Stop()
	smp.Stop()

	peak, at := history.Peak(r.History.Events(), bufferedBytes)
	r.Metric("peak_buffered_bytes", peak)
	r.Metric("memory_budget_bytes", memBudget)
	switch {
	case at.IsZero():
		r.Violation("the sink's %s gauge was never sampled: its memory use cannot be judged", bufferedBytes)
	case peak > memBudget:
		r.Violation("the sink buffered %s at its peak (%.1f× the %s memory budget), %s into the run: "+
			"a worker sized for the budget would have been OOM-killed", mib(peak), peak/memBudget, mib(memBudget),
			at.Sub(r.History.Start()).Round(time.Millisecond))
	default:
		r.Logf("peak buffered: %s, %s into the run, within the %s memory budget",
			mib(peak), at.Sub(r.History.Start()).Round(time.Millisecond), mib(memBudget))
	}
	return err
}

// mib formats a byte count in MiB.
func mib[N int | int64 | float64](n N) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// sampledCounter is a counter's final value summed over every series whose
// labels include match, read from the samples in events: each series counts
// with the largest value sampled (a counter only grows). ok is false if no
// matching series was ever sampled.
func sampledCounter(events []history.Event, metric string, match map[string]string) (total float64, ok bool) {
	last := map[string]float64{}
	for _, e := range events {
		if e.Type != history.Metric || e.Metric != metric {
			continue
		}
		matches := true
		for k, v := range match {
			matches = matches && e.Labels[k] == v
		}
		if !matches {
			continue
		}
		id := fmt.Sprint(e.Labels)
		if v, seen := last[id]; !seen || e.Value > v {
			last[id] = e.Value
		}
	}
	for _, v := range last {
		total += v
	}
	return total, len(last) > 0
}
