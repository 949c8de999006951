package scenarios

// The steps and readings several scenarios share, each in one place: the
// pipeline most of them start (topic, sink, sampler, producer), the Kafka
// audit for producer duplicates, reading record IDs and dead letters back
// from the bucket, and reading sampled metrics back from the history.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/nemesis"
	"github.com/pipechaos/pipechaos/harness/sampler"
)

// drainTimeout is how long a sink may take, after the workload, to commit
// every record before the scenario calls it stuck.
// It is a variable so that the nodes backend (real Kafka and MinIO, whose
// commits and PUTs take milliseconds instead of microseconds) may raise it.
var drainTimeout = 8 * time.Second

// sinkGroup is the consumer group of a pipeline's sink.
const sinkGroup = "s3sink"

// sinkFor is the s3sink constructor of the run's variant: s3sink.New, or
// buggy, the constructor that carries the incident's defect.
func sinkFor(r *harness.Run, buggy func(s3sink.Config) (*s3sink.Sink, error)) func(s3sink.Config) (*s3sink.Sink, error) {
	if r.Variant == harness.Buggy {
		return buggy
	}
	return s3sink.New
}

// pipeline is the shape most scenarios share: a topic in the primary region,
// the sink under test consuming it as group sinkGroup, the harness's own
// Kafka client (for group probes), a sampler on the store's cost, the sink's
// gauges and the scenario's own probes, and a producer.
type pipeline struct {
	topic string
	sink  *runningSink
	admin *kgo.Client
	smp   *sampler.Sampler
	prod  *plainProducer
}

// probeOf is a probe a scenario adds to its pipeline's sampler.
type probeOf func(*pipeline) sampler.Probe

// groupLagProbe samples the sink group's lag ("lag", "lag_total").
func groupLagProbe(pl *pipeline) sampler.Probe {
	return sampler.GroupLag(pl.admin, pl.sink.Group, pl.topic)
}

// startPipeline creates topic with partitions in the primary region and
// starts the pipeline around the sink build makes; close undoes it.
func startPipeline(ctx context.Context, r *harness.Run, topic string, partitions int32, build sinkBuilder, probes ...probeOf) (_ *pipeline, err error) {
	if err := r.CreateTopic(ctx, env.Primary, topic, partitions); err != nil {
		return nil, err
	}
	pl := &pipeline{topic: topic}
	defer func() {
		if err != nil {
			pl.close()
		}
	}()
	if pl.sink, err = startSink(ctx, r, env.Primary, topic, sinkGroup, build); err != nil {
		return nil, err
	}
	if pl.admin, err = r.Env.Region(env.Primary).Client(); err != nil {
		return nil, err
	}
	all := []sampler.Probe{r.StoreProbe(), sinkProbe(pl.sink)}
	for _, p := range probes {
		all = append(all, p(pl))
	}
	pl.smp = r.Sample(ctx, all...)
	if pl.prod, err = regionProducer(r, env.Primary); err != nil {
		return nil, err
	}
	return pl, nil
}

// close stops the producer, the sampler and the sink, in that order.
func (pl *pipeline) close() {
	if pl.prod != nil {
		pl.prod.close()
	}
	if pl.smp != nil {
		pl.smp.Stop()
	}
	if pl.admin != nil {
		pl.admin.Close()
	}
	if pl.sink != nil {
		_ = pl.sink.stop()
	}
}

// supervised is the pipeline's sink under its restart policy (the pipeline
// must have been started with supervise).
func (pl *pipeline) supervised() *supervised { return pl.sink.Sink.(*supervised) }

// drainAndCheck waits for the sink's group to commit everything, stops the
// sink, and checks the bucket. A sink that never drains is a finding.
func drainAndCheck(ctx context.Context, r *harness.Run, sink *runningSink, topic string) error {
	_, err := drainAndCheckResult(ctx, r, sink, topic)
	return err
}

// drainAndCheckResult is drainAndCheck, returning the store check.
func drainAndCheckResult(ctx context.Context, r *harness.Run, sink *runningSink, topic string) (checker.Result, error) {
	return drainAndCheckWithin(ctx, r, sink, topic, drainTimeout)
}

// drainAndCheckWithin is drainAndCheckResult with a drain window of its
// own, for a scenario whose burst takes a sink longer than drainTimeout
// to write out on a loaded machine.
func drainAndCheckWithin(ctx context.Context, r *harness.Run, sink *runningSink, topic string, within time.Duration) (checker.Result, error) {
	start := time.Now()
	ok, lag := r.Drained(ctx, sink.Region, sink.Group, topic, within)
	if !ok {
		r.ViolationOf(harness.NotDrained, "the sink never drained: %d records stayed uncommitted after %s", lag, within)
	} else {
		r.Logf("group %s committed every record %s after the last produce", sink.Group, time.Since(start).Round(time.Millisecond))
	}
	if err := sink.stop(); err != nil && !errors.Is(err, context.Canceled) {
		r.Logf("the sink stopped with: %v", err)
	}
	return r.CheckStore(ctx, "topics/"+topic+"/", checkOpts(r)...)
}

// letPlayOut waits, at most d, for a schedule that may outlast the
// workload to run its course, then heals whatever is left.
func letPlayOut(ctx context.Context, s *nemesis.Running, d time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, d)
	_ = s.Wait(wctx)
	cancel()
	return s.Stop(context.WithoutCancel(ctx))
}

// checkKafkaDuplicates audits what the primary region holds of topic: an
// idempotent producer must not have written any record twice, whatever
// retries the faults caused.
func checkKafkaDuplicates(ctx context.Context, r *harness.Run, topic string) error {
	audit, err := r.AuditTopic(ctx, env.Primary, topic)
	if err != nil {
		return err
	}
	r.Logf("Kafka holds %d records of %q (%d distinct IDs, %d duplicates)", audit.Records, topic, audit.Unique, audit.Duplicates)
	r.Metric("kafka_duplicates", float64(audit.Duplicates))
	if audit.Duplicates > 0 {
		r.ViolationOf(harness.Duplicated, "the idempotent producer wrote %d records twice into Kafka", audit.Duplicates)
	}
	return nil
}

// storedIDs reads every record ID the bucket holds under prefix.
func storedIDs(ctx context.Context, r *harness.Run, prefix string) ([]uint64, error) {
	var ids []uint64
	err := eachStored(ctx, r, prefix, func(_ string, f checker.Found) { ids = append(ids, f.ID) })
	return ids, err
}

// storedObjects maps every record ID the bucket holds under prefix to the
// object holding it (the first one read, when several do).
func storedObjects(ctx context.Context, r *harness.Run, prefix string) (map[uint64]string, error) {
	out := map[uint64]string{}
	err := eachStored(ctx, r, prefix, func(key string, f checker.Found) {
		if _, ok := out[f.ID]; !ok {
			out[f.ID] = key
		}
	})
	return out, err
}

// eachStored calls fn for every record of every object under prefix, read
// by the checker's own store walk.
func eachStored(ctx context.Context, r *harness.Run, prefix string, fn func(key string, f checker.Found)) error {
	cl, err := harness.StoreClient(r.Env.Store())
	if err != nil {
		return err
	}
	return checker.EachRecord(ctx, cl, r.Env.Store().Bucket(), prefix, func(f checker.Found) { fn(f.Object, f) })
}

// deadLetterCount is what the dead-letter objects under a prefix hold: one
// JSON line per record, and the first record's reason and error.
type deadLetterCount struct {
	objects, records int
	reason, err      string
}

// deadLetters counts the dead-letter objects under prefix and their records.
func deadLetters(ctx context.Context, r *harness.Run, prefix string) (deadLetterCount, error) {
	var n deadLetterCount
	cl, err := harness.StoreClient(r.Env.Store())
	if err != nil {
		return n, err
	}
	bucket := r.Env.Store().Bucket()
	for o := range cl.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return n, fmt.Errorf("list dead letters: %w", o.Err)
		}
		obj, err := cl.GetObject(ctx, bucket, o.Key, minio.GetObjectOptions{})
		if err != nil {
			return n, fmt.Errorf("read dead letters %s: %w", o.Key, err)
		}
		n.objects++
		sc := bufio.NewScanner(obj)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			if n.records == 0 {
				var dl struct{ Reason, Error string }
				if json.Unmarshal(sc.Bytes(), &dl) == nil {
					n.reason, n.err = dl.Reason, dl.Error
				}
			}
			n.records++
		}
		err = sc.Err()
		obj.Close()
		if err != nil {
			return n, fmt.Errorf("read dead letters %s: %w", o.Key, err)
		}
	}
	return n, nil
}

// counterSum sums a counter (or gauge) of a registry over its series whose
// labels include the given label=value pairs (none: all series).
func counterSum(g prometheus.Gatherer, name string, labels ...string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, labels) {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// timeline is one metric's samples from the history, in time order.
type timeline []history.Event

// series picks the samples of metric whose labels include want.
func series(ev []history.Event, metric string, want map[string]string) timeline {
	var out timeline
	for _, e := range ev {
		if e.Type != history.Metric || e.Metric != metric {
			continue
		}
		ok := true
		for k, v := range want {
			ok = ok && e.Labels[k] == v
		}
		if ok {
			out = append(out, e)
		}
	}
	return out
}

// at is the last value sampled at or before t (the first one if none).
func (tl timeline) at(t time.Time) float64 {
	if len(tl) == 0 {
		return 0
	}
	v := tl[0].Value
	for _, e := range tl {
		if e.At.After(t) {
			break
		}
		v = e.Value
	}
	return v
}

func (tl timeline) last() float64 {
	if len(tl) == 0 {
		return 0
	}
	return tl[len(tl)-1].Value
}

// max is the largest value sampled in [from, to] (to zero: to the end),
// and 0 if there is none.
func (tl timeline) max(from, to time.Time) float64 {
	m := 0.0
	for _, e := range tl {
		if !e.At.Before(from) && (to.IsZero() || !e.At.After(to)) {
			m = max(m, e.Value)
		}
	}
	return m
}

// peak is the first sample above every earlier one, starting from 0; the
// zero event if no sample was ever above 0.
func (tl timeline) peak() history.Event {
	var p history.Event
	for _, e := range tl {
		if e.Value > p.Value {
			p = e
		}
	}
	return p
}

// firstAtMost is the time of the first sample at or after from whose value
// is at most v.
func (tl timeline) firstAtMost(from time.Time, v float64) (time.Time, bool) {
	for _, e := range tl {
		if !e.At.Before(from) && e.Value <= v {
			return e.At, true
		}
	}
	return time.Time{}, false
}

// counterTotal reads a sampled counter's final value, summed over its
// series (label sets): each series counts with the largest value sampled (a
// counter only grows). ok is false if no series was ever sampled.
func (tl timeline) counterTotal() (total float64, ok bool) {
	last := map[string]float64{}
	for _, e := range tl {
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

// sampledCounter is a counter's final value summed over every series whose
// labels include match, read from the samples in events.
func sampledCounter(events []history.Event, metric string, match map[string]string) (float64, bool) {
	return series(events, metric, match).counterTotal()
}

// mib formats a byte count in MiB.
func mib[N int | int64 | float64](n N) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// narrateFaults tells, from the history, what each fault was and when it
// was active, for the narrative.
func narrateFaults(r *harness.Run) {
	for _, f := range history.Faults(r.History.Events()) {
		healed := "and never healed"
		if !f.Healed.IsZero() {
			healed = fmt.Sprintf("to +%s (%s)", since(r, f.Healed), f.Healed.Sub(f.Started).Round(time.Millisecond))
		}
		r.Logf("fault %s on %s (%s): from +%s %s", f.Fault, f.Target, f.Text, since(r, f.Started), healed)
	}
}
