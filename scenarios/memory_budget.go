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
// records and a 3s rotation; the fixed one also has FlushBytes of 2 MiB.
// Each runs as a process of its own (harness/sut), as a worker does, and
// its memory is measured from outside: the resident set it settled at once
// it had joined its group, then its peak (the kernel's high-water mark,
// VmHWM sampled every 20ms and wait4's maxrss at exit). 960 records of 32
// KiB (30 MiB) are produced as fast as Kafka takes them. Asserted: the
// peak grew by no more than the worker's memory budget for buffers (8 MiB
// of records, scaled by the allocation overhead of the build, see
// memBudget), and every acked record is in the bucket exactly once. A
// sink the scenario caps (MemoryLimit) and the kernel OOM-kills is a
// finding with the lag it left.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/sut"
	"github.com/pipechaos/pipechaos/harness/workload"
)

const (
	memTopic      = "clickstream"
	memRecords    = 960
	memPayload    = 32 << 10
	memFlushSize  = 10_000_000
	memFlushBytes = 2 << 20
	memRotate     = 3 * time.Second
	// memDrainTimeout is how long the sink may take to write out the 30
	// MiB burst in 2 MiB objects. On the 2-core CI machine, under -race and
	// next to the other packages' JVMs, the fixed sink still had 300 of its
	// 960 records to write 8 s after the burst (drainTimeout) while making
	// steady progress; the scenario judges memory and loss, not speed.
	memDrainTimeout = 30 * time.Second
)

// memBudget is what our sink process may grow by during the burst: 8 MiB
// of buffered records, times the bytes a Go process's resident set grows
// per byte it holds (fetch buffers, the decoded copy, the object being
// written, the garbage collector's headroom), times the race detector's
// shadow memory when the binary is built with -race.
var memBudget = int64(8<<20) * 4 * raceFactor

// memHeapLimit is the heap limit a Go sink process runs with (GOMEMLIMIT,
// the -Xmx of a Go worker): its garbage collector keeps the heap under it
// as long as what the sink holds fits, so the resident set measures what
// the sink holds rather than when its collector last ran.
const memHeapLimit = 24 << 20

// memSinks are the scenario's sink processes: the incident's flush size,
// a long rotation, and (fixed only) a byte budget.
var memSinks = processSinks("memory-budget", s3sink.NewCountOnly, func(c *s3sink.Config) {
	c.FlushSize, c.FlushBytes, c.RotateInterval = memFlushSize, memFlushBytes, memRotate
}, 0)

var _ = register(&harness.Scenario{
	Name:        "memory-budget",
	Incident:    4,
	Consequence: harness.OverBudget,
	Title:       "Heap exhaustion from huge batches: a flush size in records bounds no bytes",
	Story: "Sink workers were OOM-killed every 30–60 minutes: flush.size was 10M records, buffered in memory " +
		"until the count was reached, and records of tens of kilobytes outgrew the heap long before. " +
		"Fix: bound the buffered bytes (FlushBytes across all partitions, in flight included) and stop polling " +
		"while writes catch up; a bigger heap only moves the crash.",
	Fault:  "a burst of 960 records of 32 KiB (30 MiB) into a sink whose flush size is 10M records",
	Checks: "the sink process's peak RSS, measured from outside, grew by no more than its memory budget; every acked record in the bucket exactly once",
	Budget: 50 * time.Second,
	Run:    runMemoryBudget,
})

func runMemoryBudget(ctx context.Context, r *harness.Run) error {
	budget := memBudget
	if u := userOf(r); u != nil {
		budget = u.memoryBudget
	}
	r.Logf("the %s sink process flushes at %d records or every %s, byte budget %s (count-only ignores it); "+
		"its resident set may grow by %s during the burst", r.Variant, memFlushSize, memRotate, mib(memFlushBytes), mib(budget))
	st := stateOf(r)
	st.mu.Lock()
	st.env = append(st.env, fmt.Sprintf("GOMEMLIMIT=%dMiB", memHeapLimit>>20))
	st.mu.Unlock()
	pl, err := startPipeline(ctx, r, memTopic, 3, memSinks(r))
	if err != nil {
		return err
	}
	defer pl.close()
	if !groupStable(ctx, pl.admin, sinkGroup, 15*time.Second) {
		return errors.New("the sink never joined its group: its settled memory cannot be measured")
	}
	procs := processesOf(r)
	if len(procs) == 0 {
		return errors.New("the sink is not a process the harness measures")
	}
	settled := procs[0].RSS()
	r.Logf("the sink process (pid %d) joined its group; resident set %s before the burst", procs[0].PID(), mib(settled))

	r.Logf("the burst: %d records of %d KiB (%s) as fast as Kafka takes them", memRecords, memPayload>>10, mib(memRecords*memPayload))
	if _, err := r.Produce(ctx, workload.Config{Topic: memTopic, Records: memRecords, PayloadBytes: memPayload, MaxInFlight: 64}, pl.prod); err != nil {
		return err
	}
	_, err = drainAndCheckWithin(ctx, r, pl.sink, memTopic, max(drainTimeout, memDrainTimeout))
	pl.smp.Stop()
	checkMemoryPeak(r, procs[0], settled, budget)
	return err
}

// checkMemoryPeak holds the sink process's peak resident set, measured
// from outside, to its budget above the settled one.
func checkMemoryPeak(r *harness.Run, p *sut.Process, settled, budget int64) {
	peak := p.PeakRSS()
	grew := peak - settled
	r.Metric("peak_rss_bytes", float64(peak))
	r.Metric("settled_rss_bytes", float64(settled))
	r.Metric("memory_budget_bytes", float64(budget))
	for _, ex := range p.Exits() {
		if ex.OOMKilled {
			lag, _ := history.Peak(r.History.Events(), "lag_total")
			r.ViolationOf(harness.OverBudget, "the sink process was OOM-killed by its memory cap (%s); the group's lag peaked at %.0f records", ex, lag)
		}
	}
	switch {
	case peak == 0 || settled == 0:
		r.Inconclusive("the sink process's memory was never measured: its use cannot be judged")
	case grew > budget:
		r.ViolationOf(harness.OverBudget, "the sink process's peak RSS was %s, %s above the %s it settled at: %.1f× its %s memory budget — "+
			"a worker sized for the budget would have been OOM-killed", mib(peak), mib(grew), mib(settled), float64(grew)/float64(budget), mib(budget))
	default:
		r.Logf("peak RSS of the sink process: %s, %s above the %s it settled at, within its %s memory budget",
			mib(peak), mib(grew), mib(settled), mib(budget))
	}
}
