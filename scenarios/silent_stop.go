package scenarios

// Incident 8: the silent sync stop ("success, but no data").
//
// Symptom: after the heap and the schema problems were fixed, the
// incremental batch job went green on every run — "success", sometimes
// "no new data to process" — while one partition's data stopped arriving
// downstream. Nothing alerted: every signal came from the job itself.
//
// Root cause: a Kafka rebalance during one run that later failed left one
// partition unassigned to it. That run rewrote the job's bookmark file for
// the partitions it owned, so the file no longer had the orphaned partition.
// The job took the bookmark file as the list of partitions to read
// (connectors/batchloader/buggy.go, bookmarked): no later run ever read
// that partition again, and each of them reported success.
//
// Fix: reconcile the bookmarks with the topic's partitions on every run
// (listed from Kafka's metadata) and resume a partition without a bookmark
// from the group's committed offset — the real position (batchloader.New,
// reconcile.go). And measure freshness, not success: the SLI
// pipeline_lag_seconds{partition} (now minus the latest moment as of which
// every record of the partition was in the bucket) for every partition.
//
// The scenario: a seeded workload produces at a steady rate to a
// five-partition topic while the batch loader runs every 200ms. After the
// third run a rebalance (the nemesis) takes one seeded partition away from
// the next run: that run loads and bookmarks the other four, and the
// bookmark file loses the fifth. After the workload a final run loads
// what is left, and then:
//   - the bucket is checked against the produce history: every acked record
//     must be there exactly once;
//   - every partition's freshness, as the harness measures it from outside
//     (checker.Freshness: every 100ms, the age of the oldest acked record
//     the bucket did not hold yet, from the producer's acks, the store's
//     write log and the records each object holds), must stay within 1s;
//     a partition that breaches it is reported with how long it was stale,
//     how many runs reported success meanwhile and how many of its acked
//     records never reached the bucket;
//   - the job's own pipeline_lag_seconds, sampled every 100ms, is shown
//     beside it (when it crossed the bound), never judged;
//   - a store whose writes were not observed, or a partition that got no
//     acked record, makes the run inconclusive, not a pass.

import (
	"context"
	"errors"
	"time"

	"github.com/pipechaos/pipechaos/connectors/batchloader"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/nemesis"
	"github.com/pipechaos/pipechaos/harness/sampler"
	"github.com/pipechaos/pipechaos/harness/workload"
)

var _ = register(&harness.Scenario{
	Name:        "silent-stop",
	Incident:    8,
	Consequence: harness.Stale,
	Title:       "The silent sync stop: every run reports success, one partition never loads again",
	Story: "An incremental batch job kept its per-partition bookmarks in a file. A Kafka rebalance during one run " +
		"left a partition unassigned; that run rewrote the file without it, and the job, which read only the " +
		"partitions in its file, never loaded that partition again while every run reported success. " +
		"Fix: reconcile bookmarks with the topic's partitions on every run (resume a missing one from the group's " +
		"committed offset) and alert on a freshness SLI, pipeline_lag_seconds, per partition.",
	Fault: "after the third run, a rebalance takes one seeded partition away from the next run, " +
		"which rewrites the bookmark file without it",
	Checks: "every acked record is in the bucket exactly once after a final run; every partition's freshness, " +
		"measured from outside every 100ms (the age of the oldest acked record the bucket does not hold yet), " +
		"stays within 1s; a stale partition is reported with its staleness, the runs that reported success " +
		"meanwhile and its lost records, beside when the job's own pipeline_lag_seconds crossed the bound",
	Budget: 20 * time.Second,
	Run:    runSilentStop,
})

const (
	silentTopic      = "orders"
	silentPartitions = 5
	silentRecords    = 1200
	silentRate       = 400 // records/s: three seconds of steady traffic
	silentInterval   = 200 * time.Millisecond
	silentCutAfter   = 3 // runs before the rebalance
	silentBound      = time.Second
	silentSample     = 100 * time.Millisecond // the resolution of the measured lag
	silentJobName    = "silent-stop"
	silentGroup      = "silent-stop-loader"
)

func runSilentStop(ctx context.Context, r *harness.Run) error {
	if err := r.CreateTopic(ctx, env.Primary, silentTopic, silentPartitions); err != nil {
		return err
	}
	if err := r.CoordinatorReady(ctx, env.Primary, silentGroup, 30*time.Second); err != nil {
		return err
	}
	cut := &nemesis.AssignmentCut{Topic: silentTopic, Partition: r.Rand().Int31n(silentPartitions)}
	prefix := "loads/" + silentJobName + "/"
	job, err := silentJob(r, cut, prefix)
	if err != nil {
		return err
	}
	defer job.Close()
	metrics, sli := jobMetrics(job)
	smp := r.Sample(ctx, sampler.Prometheus(metrics, batchloader.LagMetric), r.StoreProbe())
	defer smp.Stop()

	r.Logf("the %s batch job runs every %s over the %d partitions of %q, loading under s3://%s/%s; "+
		"after run %d a rebalance leaves partition %d out of one run",
		whose(r), silentInterval, silentPartitions, silentTopic, r.Env.Store().Bucket(), prefix, silentCutAfter, cut.Partition)
	runs := &silentRunner{r: r, job: job, cut: cut}
	runs.start(ctx)
	sched := r.Schedule(ctx, nemesis.Step{
		Nemesis: cut,
		Start:   nemesis.When(func() bool { return runs.completed() >= silentCutAfter }),
		Heal:    nemesis.When(cut.Done),
	})

	p, err := regionProducer(r, env.Primary)
	if err != nil {
		return err
	}
	defer p.close()
	_, perr := r.Produce(ctx, workload.Config{Topic: silentTopic, Records: silentRecords, Rate: silentRate,
		Keys: workload.Uniform(64), Schemas: []workload.SchemaStep{{From: 1, Schema: workload.SchemaV1}},
		MaxInFlight: 64, Process: "producer"}, p)
	runs.stop()
	if err := errors.Join(perr, sched.Stop(context.WithoutCancel(ctx))); err != nil {
		return err
	}
	if cut.CutRun() == 0 {
		return harness.Inconclusive("the rebalance never reached a run: the workload ended before run %d", silentCutAfter+1)
	}

	narrateFaults(r)
	// A final run loads whatever the last tick left behind.
	runs.once(ctx)
	end := time.Now()
	smp.Stop()
	r.Logf("%d runs: %d reported success, %d failed", len(runs.reports), runs.succeeded(time.Time{}), len(runs.reports)-runs.succeeded(time.Time{}))

	res, err := r.CheckStore(ctx, prefix)
	if err != nil {
		return err
	}
	stored, err := storedObjects(ctx, r, prefix)
	if err != nil {
		return err
	}
	silentCheckFreshness(r, runs, cut.Partition, res, stored, end, sli)
	return nil
}
