package scenarios

// Incident 10 (with the commit order of incidents 2 and 9): the object
// store misbehaves for a while — 503 SlowDown, then 500 InternalError, then
// requests that hang — and the sink's writes fail.
//
// Symptom: after an S3 brown-out the pipeline was green again, every task
// running, and records were missing from the bucket: no error, no dead
// letter, no lag — the group's offsets said they had been delivered. The
// bill for the hour showed the other side of it: thousands of requests,
// most of them retries.
//
// Root cause: the sink committed a chunk's offsets and then wrote its
// object (connectors/s3sink/buggy_commit.go, NewCommitBeforeWrite). A write
// that exhausted its retries failed the task, as it should; the restarted
// task resumed from the committed offsets — past the records it had never
// written.
//
// Fix: write, and commit only once the store said yes (s3sink.New,
// writeThenCommit); retry with exponential backoff and seeded jitter, at
// most MaxRetries per write and RetryBudget per run, then fail loudly
// rather than commit; the restarted task rewrites the same deterministic
// object. Report the cost of every run: requests, 5xx answers, retries.
//
// The scenario: a seeded workload of 3000 records at 1500/s through a
// four-partition topic into the sink, under a supervisor (a restart
// policy) and with a small retry policy (4 retries from 20ms to 160ms per
// write). Once the sink has written 4 objects, the store answers every PUT
// with 503 SlowDown for 700ms, then 500 InternalError for 500ms, then holds
// every PUT for 300ms before it heals (the held requests go through). Each
// time a write gives up, the instance dies and the supervisor starts a new
// one in the same group.
//
// Asserted: every acked record is in the bucket exactly once (strict: 0
// lost, 0 duplicates), the group drains to zero lag, and the outage really
// hit (5xx answers, at least one instance died); reported: store requests
// (all, PUT), 5xx answers, the sink's retries (retries_total, every
// instance) and the instances started.

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/nemesis"
	"github.com/pipechaos/pipechaos/harness/workload"
)

var _ = register(&harness.Scenario{
	Name:        "store-outage",
	Incident:    10,
	Consequence: harness.Lost,
	Title:       "S3 answers 503, 500, then hangs: writes fail, the sink restarts — were the offsets committed first?",
	Story: "After an S3 brown-out the pipeline was green, every task running, and records were missing from the " +
		"bucket: the sink committed a chunk's offsets before writing its object, so when a write gave up and the " +
		"task restarted, it resumed past records it had never written; meanwhile retries multiplied the request " +
		"bill. Fix: write, then commit; bounded retries with backoff; fail loudly rather than commit; report the cost.",
	Fault: "once the sink has written 4 objects, every store PUT gets 503 SlowDown for 700ms, 500 InternalError " +
		"for 500ms, then hangs for 300ms; a supervisor restarts the sink whenever a write gives up",
	Checks: "strict: every acked record in the bucket exactly once; the group drains to zero lag; the outage hit " +
		"(5xx answers, a restart); reported: store requests, 5xx, the sink's retries, instances",
	Budget: 20 * time.Second,
	Run:    runStoreOutage,
})

const (
	storeTopic   = "invoices"
	storeRecords = 3000
	storeRate    = 1500
)

// storeRetries is the sink's retry policy for the scenario: a write gives up
// after 4 retries (about 150–300ms of backoff), well inside the outage.
func storeRetries(c *s3sink.Config) {
	c.MaxRetries = 4
	c.RetryBackoff = 20 * time.Millisecond
	c.RetryBackoffMax = 160 * time.Millisecond
	c.RetryBudget = 200
}

func runStoreOutage(ctx context.Context, r *harness.Run) error {
	pl, err := startPipeline(ctx, r, storeTopic, 4, supervise(ourSink(sinkFor(r, s3sink.NewCommitBeforeWrite), storeRetries)))
	if err != nil {
		return err
	}
	defer pl.close()
	r.Logf("the %s sink consumes %q (4 partitions) under a supervisor; each write gives up after 4 retries "+
		"(backoff 20ms doubling to 160ms), and a failed write fails the instance", r.Variant, storeTopic)

	sched := r.Schedule(ctx, storeBrownOut(r)...)
	_, perr := r.Produce(ctx, workload.Config{Topic: storeTopic, Records: storeRecords, Rate: storeRate}, pl.prod)
	// The outage may outlast the workload: let it play out.
	if err := errors.Join(perr, letPlayOut(ctx, sched, 5*time.Second)); err != nil {
		return err
	}

	narrateFaults(r)
	r.Logf("each restarted instance resumed from the group's committed offsets; the checker now reads the bucket: " +
		"a record committed before its object was written is in no object, and no consumer of the group will read it again")
	checkErr := drainAndCheck(ctx, r, pl.sink, storeTopic)
	reportStoreCost(r, pl.supervised())
	return checkErr
}

// storeBrownOut is the schedule: once the sink has written 4 objects, every
// PUT gets 503 SlowDown for 700ms, then 500 InternalError for 500ms, then
// hangs for 300ms.
func storeBrownOut(r *harness.Run) []nemesis.Step {
	puts := []string{http.MethodPut}
	return []nemesis.Step{
		{
			Nemesis: &nemesis.HTTPFault{Service: nemesis.TargetStore, Fault: env.HTTPFault{Status: 503, Code: "SlowDown", Methods: puts}},
			Start:   nemesis.AfterWrites(r.History, 4),
			Heal:    nemesis.After(700 * time.Millisecond),
		},
		{
			Nemesis: &nemesis.HTTPFault{Service: nemesis.TargetStore, Fault: env.HTTPFault{Status: 500, Code: "InternalError", Methods: puts}},
			Heal:    nemesis.After(500 * time.Millisecond),
		},
		{
			Nemesis: &nemesis.HTTPFault{Service: nemesis.TargetStore, Fault: env.HTTPFault{Hang: true, Methods: puts}},
			Heal:    nemesis.After(300 * time.Millisecond),
		},
	}
}

// reportStoreCost reports what the run cost (store requests, 5xx answers,
// the sink's retries, the instances started) and checks the outage really
// made a write give up.
func reportStoreCost(r *harness.Run, sv *supervised) {
	st := r.Env.Store().Faults().Stats()
	retries := sv.total("pipechaos_s3sink_retries_total", "op", "put")
	instances := sv.Instances()
	r.Metric("store_requests", float64(st.Requests))
	r.Metric("store_put_requests", float64(st.ByMethod[http.MethodPut]))
	r.Metric("store_errors_5xx", float64(st.Errors5xx))
	r.Metric("store_faulted_requests", float64(st.Faulted))
	r.Metric("sink_put_retries", retries)
	r.Metric("sink_instances", float64(instances))
	r.Logf("cost of the run: %d store requests (%d PUT), %d answered 5xx, %d faulted; the sink retried %.0f writes "+
		"and %d instances ran (%d restart(s) after a write gave up)",
		st.Requests, st.ByMethod[http.MethodPut], st.Errors5xx, st.Faulted, retries, instances, instances-1)
	switch {
	case st.Errors5xx == 0:
		r.Inconclusive("the outage refused no write (%d 5xx answers)", st.Errors5xx)
	case userOf(r) == nil && instances < 2: // our sink's retry policy is sized to give up within the outage
		r.Inconclusive("the outage never made a write give up (%d 5xx answers, %d instances)", st.Errors5xx, instances)
	}
}
