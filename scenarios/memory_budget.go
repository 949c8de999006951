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
// of 32 KiB (15 MiB) are produced at 100 records/s; then the
// sink is asked to write what it holds (its Drain, as on a graceful
// shutdown). Judged from outside: the peak of record bytes acked into Kafka
// and not yet received by the store (the writes are seen at the store's
// fault layer) must stay within the budget, and every acked record is in
// the bucket exactly once. The sink's buffered_bytes gauge is sampled and
// shown, never judged. (Measuring the sink process's own memory needs the
// sink in a process of its own.)

import (
	"context"
	"strings"
	"time"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
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
	memRate       = 100 // records per second: 3.1 MiB/s, a sink that keeps up holds about one FlushBytes
	bufferedBytes = "pipechaos_s3sink_buffered_bytes"
)

var _ = register(&harness.Scenario{
	Name:        "memory-budget",
	Incident:    4,
	Consequence: harness.OverBudget,
	Title:       "Heap exhaustion from huge batches: a flush size in records bounds no bytes",
	Story: "Sink workers were OOM-killed every 30–60 minutes: flush.size was 10M records, buffered in memory " +
		"until the count was reached, and records of tens of kilobytes outgrew the heap long before. " +
		"Fix: bound the buffered bytes (FlushBytes across all partitions, in flight included) and stop polling " +
		"while writes catch up; a bigger heap only moves the crash.",
	Fault:  "a burst of 480 records of 32 KiB (15 MiB) into a sink whose flush size is 10M records",
	Checks: "peak of acked bytes not yet received by the store ≤ the 8 MiB memory budget; every acked record in the bucket exactly once; reported: the sink's buffered_bytes gauge",
	Budget: 20 * time.Second,
	Run:    runMemoryBudget,
})

func runMemoryBudget(ctx context.Context, r *harness.Run) error {
	r.Logf("the %s sink flushes at %d records or every %s, byte budget %s (count-only ignores it); "+
		"the worker's memory budget for buffers is %s", r.Variant, memFlushSize, memRotate, mib(memFlushBytes), mib(memBudget))
	pl, err := startPipeline(ctx, r, memTopic, 3, ourSink(sinkFor(r, s3sink.NewCountOnly), func(c *s3sink.Config) {
		c.FlushSize, c.FlushBytes, c.RotateInterval = memFlushSize, memFlushBytes, memRotate
	}))
	if err != nil {
		return err
	}
	defer pl.close()
	fine := sampler.Start(ctx, r.History, 10*time.Millisecond, sampler.Prometheus(pl.sink.metrics(), bufferedBytes))
	defer fine.Stop()

	r.Logf("the burst: %d records of %d KiB (%s) at %d records/s", memRecords, memPayload>>10, mib(memRecords*memPayload), memRate)
	if _, err := r.Produce(ctx, workload.Config{Topic: memTopic, Records: memRecords, PayloadBytes: memPayload, Rate: memRate, MaxInFlight: 64}, pl.prod); err != nil {
		return err
	}
	// The burst is over: like a worker's graceful shutdown, ask the sink
	// to write what it holds rather than wait for the rotation.
	if d, ok := pl.sink.Sink.(interface{ Drain(context.Context) error }); ok {
		dctx, cancel := context.WithTimeout(ctx, drainTimeout)
		if err := d.Drain(dctx); err != nil {
			r.Logf("the sink's own drain failed: %v", err)
		}
		cancel()
	}
	err = drainAndCheck(ctx, r, pl.sink, memTopic)
	fine.Stop()
	pl.smp.Stop()
	checkMemoryPeak(r)
	return err
}

// unwrittenPeak is the most record bytes that were ever acked into Kafka
// and not yet received by the store, from the history: the produce acks
// (each record carries memPayload bytes of payload) against the object
// writes seen at the store's fault layer. What the sink holds in memory is
// at most that (plus a fetch): whatever is not in the store is in the sink
// or still in Kafka.
func unwrittenPeak(events []history.Event, prefix string) (peak float64, at time.Time) {
	var acked, written float64
	for _, e := range events {
		switch {
		case e.Type == history.Produce && e.Outcome == history.Acked:
			acked += memPayload
		case e.Type == history.SinkWrite && strings.HasPrefix(e.Object, prefix):
			written += float64(e.Bytes)
		default:
			continue
		}
		if b := acked - written; b > peak {
			peak, at = b, e.At
		}
	}
	return peak, at
}

// checkMemoryPeak holds what the sink left unwritten to the worker's
// memory budget: the peak of record bytes acked into Kafka and not yet
// received by the store (unwrittenPeak), read from the history — the
// harness's produce acks and the writes it saw at the store. A sink that
// kept its buffers within the budget cannot have left more unwritten than
// the budget plus what it had not fetched yet. The sink's own
// buffered_bytes gauge is shown, never judged.
func checkMemoryPeak(r *harness.Run) {
	events := r.History.Events()
	peak, at := unwrittenPeak(events, "topics/"+memTopic+"/")
	own, ownAt := history.Peak(events, bufferedBytes)
	r.Metric("peak_unwritten_bytes", peak)
	r.Metric("memory_budget_bytes", memBudget)
	if !ownAt.IsZero() {
		r.Metric("sink_own_peak_buffered_bytes", own)
		r.Logf("the sink's own buffered_bytes gauge peaked at %s (shown only)", mib(own))
	}
	switch {
	case at.IsZero() || r.History.Count(history.SinkWrite, "") == 0:
		r.Inconclusive("no write of the sink was seen at the store: what it held cannot be judged")
	case peak > memBudget:
		r.ViolationOf(harness.OverBudget, "the sink left %s acked records unwritten at its peak (%.1f× the %s memory budget), %s into the run, "+
			"measured at the store: a worker sized for the budget would have been OOM-killed", mib(peak), peak/memBudget, mib(memBudget), since(r, at))
	default:
		r.Logf("peak unwritten (acked into Kafka, not yet in the store): %s, %s into the run, within the %s memory budget",
			mib(peak), since(r, at), mib(memBudget))
	}
}
