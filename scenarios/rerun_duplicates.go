package scenarios

// Incident 9: duplicates after a rerun.
//
// Symptom: a job failed half-way and was rerun; every run was green, but the
// tables downstream had duplicate rows and the business numbers were wrong.
//
// Root cause: the job's writes were not idempotent. A Kafka→S3 sink is
// at-least-once by construction: it writes an object, then commits the
// offset after it. A task that dies between the two leaves an object whose
// records are still uncommitted; the restarted task consumes them again from
// the committed offset and writes them again. The buggy sink names each
// object after the wall clock of its write
// (connectors/s3sink/buggy_names.go, NewTimestampNames): the second write
// lands next to the first, and the bucket holds both copies.
//
// Fix: idempotent writes — the object name depends only on the records it
// holds (<topic>+<partition>+<startOffset>.avro, s3sink.New), and a
// partition never has more than one written-but-uncommitted object, so the
// rerun overwrites exactly what the dead task left behind.
//
// The scenario: a seeded workload of 4000 records at 2500/s through a
// six-partition topic into the sink, which runs under a supervisor (a
// restart policy). After 1000 acked records the primary region's group
// coordinator answers every OffsetCommit with UNKNOWN_SERVER_ERROR (what a
// broker answers when it cannot append to __consumer_offsets), rejecting the
// commit: the sink keeps writing objects and cannot commit them. Not
// REQUEST_TIMED_OUT: a broker may answer that after applying the commit
// (kfake does), and then the "uncommitted" objects were committed after all
// and a rerun has nothing to redo. Once the history shows three objects
// written since the commits began to fail (or one, once the workload is
// over), the nemesis kills the sink (no last flush, no commit); the supervisor starts a new instance in the same group,
// and the commits heal. The crash is not scripted into the sink: its
// objects are really written and really uncommitted when it dies, and what
// the rerun does with them is up to its code.
//
// Asserted, strictly (no duplicate tolerated): every acked record is in the
// bucket exactly once — 0 lost, 0 duplicates, in per-key order — and the
// group drains to zero lag. The narrative counts, from the history, the
// records the killed instance wrote and never committed: the duplicates a
// non-idempotent rerun must produce.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/nemesis"
	"github.com/pipechaos/pipechaos/harness/workload"
)

var _ = register(&harness.Scenario{
	Name:        "rerun-duplicates",
	Incident:    9,
	Consequence: harness.Duplicated,
	Title:       "A sink dies between writing objects and committing them; its restart writes them again",
	Story: "A job failed half-way and was rerun; every run was green, but downstream tables had duplicate rows. " +
		"The writes were not idempotent: the buggy sink names each object after the time of its write, so " +
		"records written but not committed before a crash are written a second time, under a new name, by the " +
		"restarted task. Fix: deterministic object names (topic+partition+start offset), so a rerun overwrites.",
	Fault: "after 1000 acked records every OffsetCommit is rejected (UNKNOWN_SERVER_ERROR); once the sink has written 3 " +
		"objects it cannot commit, it is killed; a supervisor restarts it in the same group and commits heal",
	Checks: "strict: every acked record in the bucket exactly once (0 lost, 0 duplicates, per-key order); " +
		"the group drains to zero lag",
	Budget: 20 * time.Second,
	Run:    runRerunDuplicates,
})

const (
	rerunTopic      = "payments"
	rerunRecords    = 4000
	rerunRate       = 2500
	rerunFaultAfter = 1000 // acked records before commits start failing
	rerunKillAfter  = 3    // objects written since then before the kill
)

func runRerunDuplicates(ctx context.Context, r *harness.Run) error {
	pl, err := startPipeline(ctx, r, rerunTopic, 6, supervise(ourSink(sinkFor(r, s3sink.NewTimestampNames), nil)))
	if err != nil {
		return err
	}
	defer pl.close()
	sv := pl.supervised()
	r.Logf("the %s sink consumes %q (6 partitions) under a supervisor; a commit fault and a kill are scheduled", r.Variant, rerunTopic)

	// OffsetCommit (key 8) rejected with UNKNOWN_SERVER_ERROR (-1), which no
	// broker answers after applying the commit.
	commits := &nemesis.ProtocolErrors{Region: env.Primary, Fault: env.ProtocolFault{Key: 8, ErrCode: -1, Count: -1}}
	kill := &sinkKill{sv: sv, h: r.History, after: "protocol-errors"}
	faults := r.Schedule(ctx, nemesis.Step{
		Nemesis: commits,
		Start:   nemesis.AfterAcked(r.History, rerunFaultAfter),
		Heal:    nemesis.When(func() bool { return sv.Instances() > 1 }),
	})
	// A partition whose write came just before the fault and whose commit
	// then failed writes nothing more: on a slow backend (real brokers, a
	// loaded machine) most partitions can be in that state, and fewer than
	// rerunKillAfter objects follow the fault. Once the workload is over,
	// one is enough: its commit was rejected, so it is uncommitted too.
	var produced atomic.Bool
	kills := r.Schedule(ctx, nemesis.Step{
		Nemesis: kill,
		Start: nemesis.When(func() bool {
			n := len(writesSince(r.History, "protocol-errors"))
			return n >= rerunKillAfter || (n > 0 && produced.Load())
		}),
	})
	_, perr := r.Produce(ctx, workload.Config{Topic: rerunTopic, Records: rerunRecords, Rate: rerunRate}, pl.prod)
	produced.Store(true)
	// The kill may still be due when the workload ends: let it happen
	// rather than stop the schedule under it (bounded by the drain below).
	if err := errors.Join(perr, letPlayOut(ctx, kills, 5*time.Second), faults.Stop(context.WithoutCancel(ctx))); err != nil {
		return err
	}
	narrateFaults(r)
	victims := kill.victims()
	if victims == nil {
		return harness.Inconclusive("the sink was never killed between a write and its commit (the workload ended first)")
	}
	// The store's request log knows the objects and their bytes; what
	// they hold is read from the bucket.
	counts, err := objectRecords(ctx, r, "topics/"+rerunTopic+"/")
	if err != nil {
		return err
	}
	var recs int
	var bytes int64
	for _, w := range victims {
		recs += counts[w.Object]
		bytes += w.Bytes
	}
	r.Logf("when it was killed, the sink had written %d objects (%d bytes, %d records) since the commits began to fail, none "+
		"committed: a rerun that does not overwrite them leaves at least %d duplicate copies", len(victims), bytes, recs, recs)
	r.Metric("uncommitted_objects_at_kill", float64(len(victims)))
	r.Metric("uncommitted_records_at_kill", float64(recs))
	r.Metric("sink_instances", float64(sv.Instances()))
	r.Metric("commit_retries", sv.total("pipechaos_s3sink_retries_total", "op", "commit"))
	return drainAndCheck(ctx, r, pl.sink, rerunTopic)
}

// sinkKill kills the supervised sink's running instance, as kill -9 of a
// task would: no last flush, no commit. Whatever it had written and not
// committed (since the fault named after started) stays uncommitted. The
// supervisor restarts it; heal has nothing to do.
type sinkKill struct {
	sv    *supervised
	h     *history.History
	after string

	mu     sync.Mutex
	killed []history.Event // the writes it had not committed, nil before the kill
}

func (k *sinkKill) Name() string   { return "sink-kill" }
func (k *sinkKill) Target() string { return "s3sink" }
func (k *sinkKill) Describe() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return fmt.Sprintf("the sink is killed with %d objects written and not committed", len(k.killed))
}

func (k *sinkKill) Start(context.Context, env.Environment) error {
	ws := writesSince(k.h, k.after)
	k.sv.kill()
	k.mu.Lock()
	k.killed = append([]history.Event{}, ws...)
	k.mu.Unlock()
	return nil
}

func (k *sinkKill) Heal(context.Context, env.Environment) error { return nil }

func (k *sinkKill) victims() []history.Event {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.killed
}
