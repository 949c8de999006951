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
// bookmark file loses the fifth. The harness samples pipeline_lag_seconds
// from the job's registry every 100ms into the history. After the workload
// a final run loads what is left, and then:
//   - the bucket is checked against the produce history: every acked record
//     must be there exactly once;
//   - from the samples, every partition's freshness must stay within 1s;
//     a partition that breaches it is reported with how long it was stale,
//     how many runs reported success meanwhile and how many of its acked
//     records never reached the bucket. The detection latency — first
//     sample above the bound minus the moment the partition stopped being
//     loaded (the ack of its first record missing from the bucket) — is
//     reported and must be under 2s;
//   - an SLI that was never sampled, or not for every partition, is a
//     failure, not a pass.

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
	Checks: "every acked record is in the bucket exactly once after a final run; every partition's freshness " +
		"(pipeline_lag_seconds, sampled every 100ms) stays within 1s; a stale partition is reported with its " +
		"staleness, the runs that reported success meanwhile, its lost records and the SLI's detection latency (< 2s)",
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
	silentDetectIn   = 2 * time.Second
	silentJobName    = "silent-stop"
	silentGroup      = "silent-stop-loader"
)

func runSilentStop(ctx context.Context, r *harness.Run) error {
	if err := r.CreateTopic(ctx, env.Primary, silentTopic, silentPartitions); err != nil {
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
	smp.Stop()
	r.Logf("%d runs: %d reported success, %d failed", len(runs.reports), runs.succeeded(time.Time{}), len(runs.reports)-runs.succeeded(time.Time{}))

	prefix := "loads/" + silentJobName + "/"
	res, err := r.CheckStore(ctx, prefix)
	if err != nil {
		return err
	}
	found, err := silentFound(ctx, r, prefix)
	if err != nil {
		return err
	}
	silentCheckFreshness(r, runs, cut.partition, res, found)
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

// silentFound reads every record ID the bucket holds under prefix.
func silentFound(ctx context.Context, r *harness.Run, prefix string) (map[uint64]bool, error) {
	ids, err := storedIDs(ctx, r, prefix)
	found := map[uint64]bool{}
	for _, id := range ids {
		found[id] = true
	}
	return found, err
}

// silentPartition is what the history says about one partition.
type silentPartition struct {
	samples   int
	peak      float64
	peakAt    time.Time
	breachAt  time.Time // first sample above the bound
	breachVal float64
	acked     int
	lost      int
	firstLost time.Time // ack of its first acked record missing from the bucket
}

// silentCheckFreshness judges freshness from the sampled SLI and ties a
// stale partition to the records it never delivered.
func silentCheckFreshness(r *harness.Run, runs *silentRunner, cut int32, res checker.Result, found map[uint64]bool) {
	parts := map[int32]*silentPartition{}
	get := func(p int32) *silentPartition {
		if parts[p] == nil {
			parts[p] = &silentPartition{}
		}
		return parts[p]
	}
	for _, e := range r.History.Events() {
		switch {
		case e.Type == history.Produce && e.Outcome == history.Acked && e.Topic == silentTopic:
			sp := get(e.Partition)
			sp.acked++
			if !found[e.RecordID] {
				if sp.lost == 0 {
					sp.firstLost = e.At
				}
				sp.lost++
			}
		case e.Type == history.Metric && e.Metric == batchloader.LagMetric:
			p, err := strconv.ParseInt(e.Labels["partition"], 10, 32)
			if err != nil {
				continue
			}
			sp := get(int32(p))
			sp.samples++
			if e.Value > sp.peak {
				sp.peak, sp.peakAt = e.Value, e.At
			}
			if e.Value > silentBound.Seconds() && sp.breachAt.IsZero() {
				sp.breachAt, sp.breachVal = e.At, e.Value
			}
		}
	}

	sampled, peak, peakP := 0, 0.0, int32(-1)
	for p := range int32(silentPartitions) {
		sp := get(p)
		if sp.samples == 0 {
			r.Inconclusive("pipeline_lag_seconds was never sampled for partition %d: nothing shows its data is fresh", p)
			continue
		}
		sampled++
		if sp.peak > peak {
			peak, peakP = sp.peak, p
		}
		if sp.breachAt.IsZero() {
			continue
		}
		// When the partition stopped being loaded: the ack of its first
		// record that never reached the bucket; if every record made it
		// in the end, the moment the SLI says it was last complete.
		stopped := sp.firstLost
		if stopped.IsZero() || stopped.After(sp.breachAt) {
			stopped = sp.breachAt.Add(-time.Duration(sp.breachVal * float64(time.Second)))
		}
		latency := sp.breachAt.Sub(stopped)
		r.Metric("detection_latency_seconds", latency.Seconds())
		r.Metric("stale_partition", float64(p))
		r.Logf("partition %d: pipeline_lag_seconds crossed %s at +%s, %s after it stopped being loaded (+%s); it peaked at %.2fs",
			p, silentBound, since(r, sp.breachAt), latency.Round(time.Millisecond), since(r, stopped), sp.peak)
		r.ViolationOf(harness.Stale, "partition %d stale for %.1fs (pipeline_lag_seconds above %s from +%s, detected %.2fs after it stopped being loaded) "+
			"while %d runs reported success; %d of its %d acked records never reached the bucket",
			p, sp.peak, silentBound, since(r, sp.breachAt), latency.Seconds(), runs.succeeded(stopped), sp.lost, sp.acked)
		if latency > silentDetectIn {
			r.ViolationOf(harness.Stale, "the freshness SLI flagged partition %d only %.2fs after it stopped being loaded, later than the %s it is allowed",
				p, latency.Seconds(), silentDetectIn)
		}
	}
	r.Metric("freshness_peak_seconds", peak)
	if sampled == silentPartitions && peak <= silentBound.Seconds() {
		r.Logf("freshness held: every partition's pipeline_lag_seconds stayed within %s (peak %.2fs on partition %d; partition %d, left out of one run, peaked at %.2fs); the checker found %d of %d acked records",
			silentBound, peak, peakP, cut, get(cut).peak, res.FoundRecords, res.Acked)
	}
}
