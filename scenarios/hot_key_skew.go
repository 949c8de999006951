package scenarios

// Incident 6: one hot key.
//
// Symptom: a daily job went from 30 minutes to 2 hours with no code change.
// 99% of its tasks finished fast; one ran for ages, and its executors died
// of memory exhaustion. Bigger workers "fixed" it for one run.
//
// Root cause: one key (a tenant) held most of the records. A shuffle sends
// every record of a key to the partition its hash picks, so one partition —
// one task — got most of the work, however many partitions there were.
//
// Fix: profile the input before processing (top-key frequency and the
// largest-partition ratio, package harness/skew), and above a threshold
// either fail fast with an error naming the hot key, or salt the key over N
// sub-keys so the shuffle spreads it; bound what a task buffers in bytes.
//
// The scenario: a workload whose key "tenant-42" holds about 60% of the
// records lands in the input topic. The job samples the input before
// processing (skew.SampleTopic: each partition's latest records, in
// proportion to the partition's size); the
// profile flags the hot key and the largest partition, and the job chooses
// to salt it over 16 sub-keys. The job's shuffle re-keys the input into a
// work topic, and the s3sink — the job's tasks, one per partition, each
// store request costing 10ms — processes the work topic with a byte budget. The fixed shuffle (skew.Rekey) salts the record key; the
// buggy one (skew.BuggyRekey) computes the salted key but leaves the raw key
// for the partitioner to hash. What is asserted, from the data: every acked
// record reached the bucket once (checker); the work topic's partitions, as
// the sampled per-partition consumer lag saw them, stay within the
// largest-partition threshold (peak lag of the largest over the mean);
// reported: the sink's own buffered bytes gauge. When the lag ratio
// is over the threshold, the consequence carries the fail-fast error of a
// profile of the work topic, which names the hot key.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/nemesis"
	"github.com/pipechaos/pipechaos/harness/sampler"
	"github.com/pipechaos/pipechaos/harness/skew"
	"github.com/pipechaos/pipechaos/harness/workload"
)

var _ = register(&harness.Scenario{
	Name:        "hot-key-skew",
	Incident:    6,
	Consequence: harness.Skewed,
	Title:       "One tenant holds 60% of the records: one partition does all the work",
	Story: "A daily job went from 30 minutes to 2 hours with no code change: one tenant dominated the input, the shuffle " +
		"sent all its records to one partition, and that one task ran for ages while the others idled. The fix profiles " +
		"the input before processing (top key, largest-partition ratio), fails fast naming the hot key or salts it over " +
		"sub-keys, and bounds what a task buffers in bytes.",
	Fault:  "a workload whose key \"tenant-42\" holds ~60% of 2000 records; the job salts it over 16 sub-keys in its shuffle; each store request costs 10ms",
	Checks: "every acked record in the bucket once; the work topic's largest-partition ratio, from sampled per-partition lag, within the threshold (2x); reported: the sink's buffered bytes gauge",
	Budget: 20 * time.Second,
	Run:    runHotKeySkew,
})

const (
	skewInput   = "clicks"
	skewWork    = "clicks-by-key"
	skewGroup   = "clicks-sink"
	skewHotKey  = "tenant-42"
	skewSubKeys = 16
	skewBudget  = 32 << 10 // the sink's FlushBytes
	skewFlush   = 50       // the sink's FlushSize
)

func runHotKeySkew(ctx context.Context, r *harness.Run) error {
	for _, t := range []string{skewInput, skewWork} {
		if err := r.CreateTopic(ctx, env.Primary, t, 4); err != nil {
			return err
		}
	}
	if err := produceSkewedInput(ctx, r); err != nil {
		return err
	}
	job, err := r.Env.Region(env.Primary).Client()
	if err != nil {
		return err
	}
	defer job.Close()
	th := skew.Thresholds{}
	plan, err := profileInput(ctx, r, job, th)
	if err != nil {
		return err
	}

	tasks, err := startSkewTasks(ctx, r)
	if err != nil {
		return err
	}
	defer tasks.close(ctx)

	// The shuffle: re-key the input into the work topic by the plan.
	rekey := skew.Rekey
	if r.Variant == harness.Buggy {
		rekey = skew.BuggyRekey
	}
	shuffled := time.Now()
	n, err := rekey(ctx, job, skewInput, skewWork, plan, r.Rand())
	if err != nil {
		return err
	}
	r.Logf("shuffle: %d records re-keyed from %q into %q by the %s shuffle", n, skewInput, skewWork, r.Variant)

	drained, lag := r.Drained(ctx, env.Primary, skewGroup, skewWork, drainTimeout)
	r.Logf("drain of %q: done=%v, lag left %d", skewWork, drained, lag)
	tasks.close(ctx)
	if _, err := r.CheckStore(ctx, ""); err != nil {
		return err
	}
	return checkSpread(ctx, r, job, th, shuffled)
}

// skewTasks are the job's tasks: the sink, one writer per partition of the
// work topic, under a byte budget, each store request costing 10ms; their
// lag per partition and buffered bytes are sampled.
type skewTasks struct {
	r     *harness.Run
	sink  *runningSink
	admin *kgo.Client
	smp   *sampler.Sampler
	cost  *nemesis.Running
	once  sync.Once
}

func startSkewTasks(ctx context.Context, r *harness.Run) (_ *skewTasks, err error) {
	t := &skewTasks{r: r}
	defer func() {
		if err != nil {
			t.close(ctx)
		}
	}()
	t.sink, err = startSink(ctx, r, env.Primary, skewWork, skewGroup, ourSink(s3sink.New, func(c *s3sink.Config) {
		c.FlushSize, c.FlushBytes, c.RotateInterval = skewFlush, skewBudget, 100*time.Millisecond
	}))
	if err != nil {
		return nil, err
	}
	if t.admin, err = r.Env.Region(env.Primary).Client(); err != nil {
		return nil, err
	}
	t.smp = r.Sample(ctx, sampler.GroupLag(t.admin, skewGroup, skewWork), sampler.Prometheus(t.sink.metrics(), "pipechaos_s3sink_buffered_bytes"))
	// Each store request costs 10ms, as each task has a cost per batch: it
	// is what makes a bigger partition's backlog take longer to clear.
	t.cost = r.Schedule(ctx, nemesis.Step{Nemesis: &nemesis.HTTPFault{Service: nemesis.TargetStore,
		Fault: env.HTTPFault{Latency: 10 * time.Millisecond}}})
	return t, nil
}

// close stops the sampling, heals the store's latency and stops the sink.
func (t *skewTasks) close(ctx context.Context) {
	t.once.Do(func() {
		if t.smp != nil {
			t.smp.Stop()
		}
		if t.cost != nil {
			if err := t.cost.Stop(context.WithoutCancel(ctx)); err != nil {
				t.r.Logf("healing the store latency: %v", err)
			}
		}
		if t.admin != nil {
			t.admin.Close()
		}
		if t.sink != nil {
			if err := t.sink.stop(); err != nil && !errors.Is(err, context.Canceled) {
				t.r.Logf("sink: %v", err)
			}
		}
	})
}

// produceSkewedInput writes the job's input: one tenant holds about 60% of
// the records.
func produceSkewedInput(ctx context.Context, r *harness.Run) error {
	p, err := regionProducer(r, env.Primary)
	if err != nil {
		return err
	}
	defer p.close()
	wl := workload.Config{Topic: skewInput, Records: 2000, Keys: workload.HotKey(skewHotKey, 0.6, 200),
		Schemas: []workload.SchemaStep{{From: 1, Schema: workload.SchemaV1}}, MaxInFlight: 512, Process: "producer"}
	_, err = r.Produce(ctx, wl, p)
	return err
}

// profileInput is the check before processing: sample the input, profile
// it, and plan the salting of the keys it flags.
func profileInput(ctx context.Context, r *harness.Run, job *kgo.Client, th skew.Thresholds) (skew.Plan, error) {
	in, err := skew.SampleTopic(ctx, job, skewInput, 500)
	if err != nil {
		return skew.Plan{}, err
	}
	before := in.Profile(th)
	r.Logf("skew check on %q before processing (%d sampled of %d): %s", skewInput, len(in.Samples), in.Records, before)
	if err := before.Err(); err != nil {
		r.Logf("the check's fail-fast error would stop the job here: %v", err)
	}
	plan := skew.PlanFor(before, skewSubKeys)
	r.Logf("the job goes on with salting instead: keys %v over %d sub-keys each", slices.Sorted(maps.Keys(plan.Keys)), plan.SubKeys)
	return plan, nil
}

// checkSpread judges, from the data, how the work was spread: the work
// topic's profile names a hot key if one is left, the sampled lag per
// partition shows whether one task had most of the work, and the sampled
// buffered bytes whether memory stayed bounded.
func checkSpread(ctx context.Context, r *harness.Run, job *kgo.Client, th skew.Thresholds, shuffled time.Time) error {
	out, err := skew.SampleTopic(ctx, job, skewWork, 500)
	if err != nil {
		return err
	}
	after := out.Profile(th)
	r.Logf("profile of %q after the shuffle: %s", skewWork, after)
	checkPartitionLag(r, skewWork, th.MaxPartitionRatio, after, shuffled)
	checkBufferedBytes(r, skewBudget, skewFlush)
	return nil
}

// partitionLag is one partition's sampled lag.
type partitionLag struct {
	partition int32
	peak      float64
	busy      time.Duration // from the shuffle's start to the last sample with lag
}

// checkPartitionLag reads the per-partition lag samples of topic from the
// history and compares the largest partition's peak with the mean peak;
// busy times count from since, the shuffle's start.
func checkPartitionLag(r *harness.Run, topic string, maxRatio float64, profile skew.Report, since time.Time) {
	if maxRatio <= 0 {
		maxRatio = 2
	}
	byP := map[int32]*partitionLag{}
	for _, e := range r.History.Filter(history.Metric) {
		if e.Metric != "lag" || e.Labels["topic"] != topic {
			continue
		}
		p, err := strconv.Atoi(e.Labels["partition"])
		if err != nil {
			continue
		}
		pl := byP[int32(p)]
		if pl == nil {
			pl = &partitionLag{partition: int32(p)}
			byP[int32(p)] = pl
		}
		pl.peak = max(pl.peak, e.Value)
		if e.Value > 0 {
			pl.busy = e.At.Sub(since)
		}
	}
	if len(byP) == 0 {
		r.Inconclusive("no per-partition lag was ever sampled for group %s on %s", skewGroup, topic)
		return
	}
	var lags []partitionLag
	var sum float64
	for _, pl := range byP {
		lags = append(lags, *pl)
		sum += pl.peak
	}
	slices.SortFunc(lags, func(a, b partitionLag) int { return cmp.Compare(a.partition, b.partition) })
	top := slices.MaxFunc(lags, func(a, b partitionLag) int { return cmp.Compare(a.peak, b.peak) })
	mean := sum / float64(len(lags))
	var desc []string
	for _, pl := range lags {
		desc = append(desc, fmt.Sprintf("p%d peak %.0f, busy %s", pl.partition, pl.peak, pl.busy.Round(time.Millisecond)))
	}
	ratio := 0.0
	if mean > 0 {
		ratio = top.peak / mean
	}
	r.Metric("lag_ratio", ratio)
	// Busy times are for the narrative only: the byte budget is shared, so
	// a hot partition's writes also hold back the tails of the others.
	r.Logf("sampled lag per partition of %q (busy: from the shuffle's start to the last sample with lag): %s", topic, strings.Join(desc, "; "))
	if mean == 0 {
		r.Inconclusive("the sampled lag of %s was zero on every partition: the work topic never held a record", topic)
		return
	}
	if ratio > maxRatio {
		why := "a profile of the work topic does not name a hot key"
		if err := profile.Err(); err != nil {
			why = "the fail-fast check on the work topic says: " + err.Error()
		}
		r.ViolationOf(harness.Skewed, "partition %d's lag peaked at %.0f records, %.1fx the mean peak of %.0f over %d partitions (threshold %.1fx): one task had most of the work; %s",
			top.partition, top.peak, ratio, mean, len(lags), maxRatio, why)
	}
}

// checkBufferedBytes reports the sink's sampled buffered bytes from the
// history against its budget plus one poll (flushSize records, each at
// most 1 KiB in this workload). It is the sink's own gauge: shown, never
// judged.
func checkBufferedBytes(r *harness.Run, budget int64, flushSize int) {
	samples := series(r.History.Events(), "pipechaos_s3sink_buffered_bytes", nil)
	peak, n := samples.max(time.Time{}, time.Time{}), len(samples)
	bound := float64(budget + int64(flushSize)<<10)
	r.Metric("buffered_bytes_peak", peak)
	r.Logf("sink buffered bytes: peak %.0f over %d samples (budget %d, bound with one poll %.0f)", peak, n, budget, bound)
	if n > 0 && peak > bound {
		r.Logf("note: the sink says it buffered %.0f bytes, %.1fx its budget of %d", peak, peak/float64(budget), budget)
	}
}
