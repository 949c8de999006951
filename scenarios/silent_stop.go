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
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pipechaos/pipechaos/connectors/batchloader"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
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
	cut := &silentRebalance{partition: r.Rand().Int31n(silentPartitions)}
	job, err := silentJob(r, cut)
	if err != nil {
		return err
	}
	defer job.Close()
	smp := r.Sample(ctx, sampler.Prometheus(job.Metrics(), batchloader.LagMetric), r.StoreProbe())
	defer smp.Stop()

	r.Logf("the %s batch loader runs every %s over the %d partitions of %q, bookmarks in s3://%s/bookmarks/%s.json; "+
		"after run %d a rebalance leaves partition %d out of one run",
		r.Variant, silentInterval, silentPartitions, silentTopic, r.Env.Store().Bucket(), silentJobName, silentCutAfter, cut.partition)
	runs := &silentRunner{r: r, job: job, cut: cut}
	runs.start(ctx)
	sched := r.Schedule(ctx, nemesis.Step{
		Nemesis: cut,
		Start:   nemesis.When(func() bool { return runs.completed() >= silentCutAfter }),
		Heal:    nemesis.When(cut.done),
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
	if cut.cutRun.Load() == 0 {
		return harness.Inconclusive("the rebalance never reached a run: the workload ended before run %d", silentCutAfter+1)
	}

	narrateFaults(r)
	// A final run loads whatever the last tick left behind.
	runs.once(ctx)
	end := time.Now()
	smp.Stop()
	r.Logf("%d runs: %d reported success, %d failed", len(runs.reports), runs.succeeded(time.Time{}), len(runs.reports)-runs.succeeded(time.Time{}))

	prefix := "loads/" + silentJobName + "/"
	res, err := r.CheckStore(ctx, prefix)
	if err != nil {
		return err
	}
	stored, err := storedObjects(ctx, r, prefix)
	if err != nil {
		return err
	}
	silentCheckFreshness(r, runs, cut.partition, res, stored, end)
	return nil
}

// silentJob is the variant's batch loader, owning what the rebalance leaves it.
func silentJob(r *harness.Run, cut *silentRebalance) (*batchloader.Job, error) {
	boot := r.Env.Region(env.Primary).Bootstrap()
	st := r.Env.Store()
	cfg := batchloader.Config{
		Brokers: boot, Topic: silentTopic, Name: silentJobName, Group: silentGroup,
		S3Endpoint: st.Endpoint(), S3AccessKey: st.AccessKey(), S3SecretKey: st.SecretKey(), Bucket: st.Bucket(),
		Assignment: cut.assignment,
		RunTimeout: 5 * time.Second,
		Logf:       func(format string, args ...any) { r.History.Note(silentJobName, fmt.Sprintf(format, args...)) },
		KgoOpts:    env.ClientOpts(boot),
	}
	if r.Variant == harness.Buggy {
		return batchloader.NewBuggy(cfg)
	}
	return batchloader.New(cfg)
}

// silentRebalance is the fault: while active, the next run to ask for its
// assignment is not given partition — a rebalance moved it to a member that
// then died, as in the incident. It hits exactly one run.
type silentRebalance struct {
	partition int32
	armed     atomic.Bool
	cutRun    atomic.Int64 // the run that lost the partition
	finished  atomic.Int64 // runs finished so far
}

func (c *silentRebalance) Name() string { return "rebalance" }
func (c *silentRebalance) Target() string {
	return fmt.Sprintf("%s/partition-%d", silentTopic, c.partition)
}
func (c *silentRebalance) Describe() string {
	return fmt.Sprintf("a consumer-group rebalance takes partition %d away from the next run of the batch loader", c.partition)
}
func (c *silentRebalance) Start(context.Context, env.Environment) error {
	c.armed.Store(true)
	return nil
}
func (c *silentRebalance) Heal(context.Context, env.Environment) error {
	c.armed.Store(false)
	return nil
}

// assignment is the job's Config.Assignment.
func (c *silentRebalance) assignment(ps []int32) []int32 {
	if !c.armed.CompareAndSwap(true, false) {
		return ps
	}
	c.cutRun.Store(c.finished.Load() + 1)
	return slices.DeleteFunc(ps, func(p int32) bool { return p == c.partition })
}

// done reports whether the run that lost the partition has finished.
func (c *silentRebalance) done() bool {
	n := c.cutRun.Load()
	return n > 0 && c.finished.Load() >= n
}

// silentRunner runs the job every silentInterval and keeps its reports.
type silentRunner struct {
	r   *harness.Run
	job *batchloader.Job
	cut *silentRebalance

	mu      sync.Mutex
	reports []silentReport

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type silentReport struct {
	batchloader.Report
	At time.Time
}

func (s *silentRunner) start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(silentInterval)
		defer t.Stop()
		for {
			s.once(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (s *silentRunner) stop() {
	s.cancel()
	s.wg.Wait()
}

// once runs the job and narrates the runs around the rebalance.
func (s *silentRunner) once(ctx context.Context) {
	rep, _ := s.job.RunOnce(ctx)
	if ctx.Err() != nil && !rep.Success {
		return // stopped mid-run: not a run of the job's schedule
	}
	at := time.Now()
	s.mu.Lock()
	s.reports = append(s.reports, silentReport{rep, at})
	s.mu.Unlock()
	s.cut.finished.Store(int64(rep.Run))
	s.r.History.Note(silentJobName, rep.String())
	cutRun := int(s.cut.cutRun.Load())
	switch {
	case rep.Run == cutRun:
		s.r.Logf("%s — partition %d was not assigned to it; it rewrote the bookmark file for partitions %v only",
			rep, s.cut.partition, silentSorted(rep.Bookmarks))
	case len(rep.Reconciled) > 0:
		s.r.Logf("%s — partitions %v had no bookmark: resumed from group %s's committed offsets", rep, rep.Reconciled, silentGroup)
	case rep.Run == 1 || (cutRun > 0 && rep.Run <= cutRun+2) || !rep.Success:
		s.r.Logf("%s", rep)
	}
}

func (s *silentRunner) completed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reports)
}

// succeeded counts the runs that reported success after since.
func (s *silentRunner) succeeded(since time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, rep := range s.reports {
		if rep.Success && rep.At.After(since) {
			n++
		}
	}
	return n
}

func silentSorted(m map[int32]int64) []int32 {
	var ps []int32
	for p := range m {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// silentPartition is what the run shows about one partition.
type silentPartition struct {
	acked, lost int
	firstLost   time.Time // ack of its first acked record missing from the bucket
	peak        time.Duration
	breachAt    time.Time     // first moment its lag was above the bound
	breachLag   time.Duration // the lag then
	jobPeak     float64       // the job's own SLI, shown, never judged
	jobBreachAt time.Time
}

// silentCheckFreshness judges every partition's freshness as the harness
// measures it from outside (acks from the producer, object writes from the
// store, the records in each object from the bucket) and ties a stale
// partition to the records it never delivered. The job's own SLI is shown
// beside it.
func silentCheckFreshness(r *harness.Run, runs *silentRunner, cut int32, res checker.Result, stored map[uint64]string, end time.Time) {
	written := map[string]time.Time{} // object → its last write the store answered
	parts := map[int32]*silentPartition{}
	get := func(p int32) *silentPartition {
		if parts[p] == nil {
			parts[p] = &silentPartition{}
		}
		return parts[p]
	}
	var ds []checker.Delivery
	events := r.History.Events()
	for _, e := range events {
		if e.Type == history.SinkWrite && e.Process == harness.StoreProcess && e.At.After(written[e.Object]) {
			written[e.Object] = e.At
		}
	}
	for _, e := range events {
		switch {
		case e.Type == history.Produce && e.Outcome == history.Acked && e.Topic == silentTopic:
			sp := get(e.Partition)
			sp.acked++
			d := checker.Delivery{Partition: e.Partition, Acked: e.At}
			if obj, ok := stored[e.RecordID]; ok {
				d.Stored = written[obj]
				if d.Stored.IsZero() { // in the bucket, its write never seen: only as of the end
					d.Stored = end
				}
			} else {
				if sp.lost == 0 {
					sp.firstLost = e.At
				}
				sp.lost++
			}
			ds = append(ds, d)
		case e.Type == history.Metric && e.Metric == batchloader.LagMetric:
			p, err := strconv.ParseInt(e.Labels["partition"], 10, 32)
			if err != nil {
				continue
			}
			sp := get(int32(p))
			sp.jobPeak = max(sp.jobPeak, e.Value)
			if e.Value > silentBound.Seconds() && sp.jobBreachAt.IsZero() {
				sp.jobBreachAt = e.At
			}
		}
	}
	if len(written) == 0 {
		r.Inconclusive("the store recorded no object write: without the write times the harness cannot measure freshness")
		return
	}
	for p, samples := range checker.Freshness(ds, silentSample, end) {
		sp := get(p)
		for _, s := range samples {
			if s.Lag > sp.peak {
				sp.peak = s.Lag
			}
			if s.Lag > silentBound && sp.breachAt.IsZero() {
				sp.breachAt, sp.breachLag = s.At, s.Lag
			}
		}
	}

	var peak time.Duration
	peakP := int32(-1)
	for p := range int32(silentPartitions) {
		sp := get(p)
		if sp.acked == 0 {
			r.Inconclusive("no record was acked to partition %d: nothing shows whether its data stays fresh", p)
			continue
		}
		if sp.peak > peak {
			peak, peakP = sp.peak, p
		}
		if sp.breachAt.IsZero() {
			continue
		}
		stopped := sp.breachAt.Add(-sp.breachLag) // the ack of its oldest record not yet stored
		r.Metric("stale_partition", float64(p))
		job := "the job's own pipeline_lag_seconds never crossed it"
		if !sp.jobBreachAt.IsZero() {
			// Shown, not judged: how soon the job's own alert would have fired.
			latency := sp.jobBreachAt.Sub(stopped)
			r.Metric("sli_detection_latency_seconds", latency.Seconds())
			job = fmt.Sprintf("the job's own pipeline_lag_seconds crossed it at +%s, %s after", since(r, sp.jobBreachAt), latency.Round(time.Millisecond))
		}
		r.Logf("partition %d: its oldest unloaded record was older than %s from +%s (its data stopped arriving at +%s); %s",
			p, silentBound, since(r, sp.breachAt), since(r, stopped), job)
		r.ViolationOf(harness.Stale, "partition %d stale for %.1fs (the bucket lagged its acks by more than %s from +%s) "+
			"while %d runs reported success; %d of its %d acked records never reached the bucket",
			p, sp.peak.Seconds(), silentBound, since(r, sp.breachAt), runs.succeeded(stopped), sp.lost, sp.acked)
	}
	r.Metric("freshness_peak_seconds", peak.Seconds())
	if peak <= silentBound && peakP >= 0 {
		r.Logf("freshness held: every partition's data reached the bucket within %s of its ack (peak %s on partition %d; "+
			"partition %d, left out of one run, peaked at %s; the job's own SLI peaked at %.2fs there); the checker found %d of %d acked records",
			silentBound, peak.Round(time.Millisecond), peakP, cut, get(cut).peak.Round(time.Millisecond), get(cut).jobPeak, res.FoundRecords, res.Acked)
	}
}
