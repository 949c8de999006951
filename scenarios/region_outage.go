package scenarios

// Incident 5: the dual-region failover that dropped messages.
//
// Symptom: the primary Kafka region was down for two hours. The producers
// reported every send as successful, the dashboards stayed green, and when
// the region came back every message of the outage was missing — from the
// primary, from the secondary, from the bucket downstream.
//
// Root cause: the producer sent to the primary region and, on failure, was
// supposed to send to the secondary. Its failure handler logged the error
// and returned an empty result with no error; the caller took "no error" for
// "delivered". The secondary was never tried (connectors/failover/buggy.go,
// logAndContinue).
//
// Fix: on a primary failure, send the record to the secondary synchronously
// and report only the secondary's answer; if both regions fail, return the
// error so the caller can retry or fail loudly (connectors/failover,
// Producer.failover). A failover whose primary attempt had an unknown
// outcome may leave the record in both regions: those duplicates are
// counted by the producer and tolerated downstream up to the copies Kafka
// really holds, never hidden.
//
// The scenario: the topic exists in both regions and each region has its own
// S3 sink writing into the same bucket under its region's prefix
// (primary/…, secondary/…). A seeded workload goes through the failover
// producer; once N records are acked the whole primary region goes down, and
// it comes back after M more acks (acks that, while the primary is down, can
// only come from the secondary — or from nowhere). Both sinks are drained
// (judged from their committed offsets), then:
//   - the bucket, over both prefixes, is checked against the produce
//     history: every acked record must be there (duplicates tolerated up to
//     the IDs Kafka holds in both regions; per-key order is not promised
//     across a failover, so reorders are counted but allowed);
//   - both regions' topics are read end to end: every acked record must
//     exist in primary ∪ secondary; "acked records that exist in neither
//     region" is the incident's consequence, with its count;
//   - the records in both regions must not exceed what the producer counted
//     as possible duplicates;
//   - finally both regions are stopped together and a few more records are
//     produced: none may be acked.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/connectors/failover"
	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/nemesis"
	"github.com/pipechaos/pipechaos/harness/sampler"
	"github.com/pipechaos/pipechaos/harness/workload"
)

var _ = register(&harness.Scenario{
	Name:        "region-outage",
	Incident:    5,
	Consequence: harness.Lost,
	Title:       "Dual-region failover that dropped messages",
	Story: "A producer sent to the primary Kafka region and was meant to fail over to the secondary. " +
		"Its failure handler logged the error and returned an empty result with no error: the secondary " +
		"was never tried, the caller saw success, and every message of a two-hour primary outage was lost. " +
		"Fix: on primary failure send to the secondary synchronously; if both fail, return the error.",
	Fault: "the whole primary region goes down after 400 acked records and comes back after 400 more; " +
		"then both regions go down together while 20 more records are produced",
	Checks: "every acked record is in primary ∪ secondary and in the bucket (both regions' sink prefixes); " +
		"no acknowledged record exists in neither region; records in both regions are counted by the producer; " +
		"with both regions down no record is acknowledged",
	Budget: 20 * time.Second,
	Run:    runRegionOutage,
})

const (
	outageTopic           = "payments"
	outageBothDownTopic   = "payments-both-down"
	outageRecords         = 1600
	outageRate            = 800 // records/s: the outage lands mid-stream
	outageAfter           = 400 // acked records before the primary goes down
	outageHealAfter       = 400 // more acked records before it comes back
	outageMax             = 4 * time.Second
	outageBothDownRecords = 20
)

func runRegionOutage(ctx context.Context, r *harness.Run) error {
	for _, region := range []string{env.Primary, env.Secondary} {
		if err := r.CreateTopic(ctx, region, outageTopic, 4); err != nil {
			return err
		}
		if err := r.CreateTopic(ctx, region, outageBothDownTopic, 1); err != nil {
			return err
		}
	}
	sinks, err := startOutageSinks(ctx, r, outageTopic)
	if err != nil {
		return err
	}
	defer sinks.close()

	p, err := outageProducer(r)
	if err != nil {
		return err
	}
	defer closeProducer(p)
	smp := r.Sample(ctx, r.StoreProbe(), sampler.Prometheus(producerMetrics(p),
		"pipechaos_failover_produce_acks_total", "pipechaos_failover_failovers_total", "pipechaos_failover_errors_total"))
	defer smp.Stop()

	r.Logf("the %s producer writes %d records to %q at %d/s; the primary region goes down after %d acks and comes back after %d more (at most %s)",
		whose(r), outageRecords, outageTopic, outageRate, outageAfter, outageHealAfter, outageMax)
	sched := r.Schedule(ctx, nemesis.Step{
		Nemesis: nemesis.RegionOutage{Region: env.Primary},
		Start:   nemesis.AfterAcked(r.History, outageAfter),
		Heal:    outageAtMost(outageMax, nemesis.AfterAcked(r.History, outageAfter+outageHealAfter)),
	})
	_, perr := r.Produce(ctx, outageWorkload(outageTopic, outageRecords, outageRate), p)
	if err := errors.Join(perr, sched.Stop(context.WithoutCancel(ctx))); err != nil {
		return err
	}
	during := outageProducedDuringFault(r.History.Events(), "region-outage")
	if during == 0 {
		return harness.Inconclusive("the primary outage touched no record (it never started, or the workload ended first)")
	}
	narrateFaults(r)
	r.Logf("%d produce outcomes arrived while the primary was down; acks by the region they name: %s",
		during, outageAcksByRegion(r.History.Events(), outageTopic))
	r.Logf("producer metrics: %s", outageProducerCounts(p))

	for _, s := range sinks.sinks {
		if ok, lag := r.Drained(ctx, s.Region, s.Group, outageTopic, drainTimeout); !ok {
			r.ViolationOf(harness.NotDrained, "the %s sink never drained: %d records of %s stayed uncommitted", s.Region, lag, s.Region)
		}
	}
	sinks.close()

	h := outageBothDown(ctx, r, p)

	if err := outageCheckRegions(ctx, r, p); err != nil {
		return err
	}
	return outageAuditBothDown(ctx, r, h)
}

// outageCheckRegions audits both regions' topics against the acked records, then
// checks the bucket over both sinks' prefixes.
func outageCheckRegions(ctx context.Context, r *harness.Run, p connectors.Producer) error {
	pa, err := r.AuditTopic(ctx, env.Primary, outageTopic)
	if err != nil {
		return err
	}
	sa, err := r.AuditTopic(ctx, env.Secondary, outageTopic)
	if err != nil {
		return err
	}
	acked := outageAckedIDs(r.History.Events(), outageTopic)
	var neither []uint64
	for _, id := range acked {
		_, inP := pa.IDs[id]
		_, inS := sa.IDs[id]
		if !inP && !inS {
			neither = append(neither, id)
		}
	}
	inBoth := 0
	for id := range sa.IDs {
		if _, ok := pa.IDs[id]; ok {
			inBoth++
		}
	}
	counted := int(counterSum(producerMetrics(p), "pipechaos_failover_possible_duplicates_total"))
	r.Logf("Kafka audit of %q: primary holds %d records (%d distinct), secondary %d (%d distinct); %d IDs are in both regions (the producer counted %d possible duplicates); %d of %d acked records are in neither",
		outageTopic, pa.Records, pa.Unique, sa.Records, sa.Unique, inBoth, counted, len(neither), len(acked))
	r.Metric("acked_in_neither_region", float64(len(neither)))
	r.Metric("ids_in_both_regions", float64(inBoth))
	r.Metric("possible_duplicates_counted", float64(counted))
	if len(neither) > 0 {
		r.ViolationOf(harness.Lost, "%d of %d acknowledged records exist in neither region (first IDs %v)", len(neither), len(acked), outageFirstIDs(neither))
	}
	if inBoth > counted {
		// The producer's own count is shown, never judged.
		r.Logf("note: %d records exist in both regions but the producer counted only %d possible duplicates", inBoth, counted)
	}

	// The sinks write what Kafka holds, once per copy: the bucket may hold
	// a record twice only if Kafka does (once per region, or a log's own
	// duplicate). Anything beyond that is the sinks' doing.
	copies := inBoth + pa.Duplicates + sa.Duplicates
	cl, err := harness.StoreClient(r.Env.Store())
	if err != nil {
		return err
	}
	c := checker.New(checker.LedgerFrom(r.History.Events()), checker.MaxDuplicates(copies), checker.AllowReorder())
	for _, region := range []string{env.Primary, env.Secondary} {
		if err := checker.ReadStore(ctx, cl, r.Env.Store().Bucket(), region+"/topics/"+outageTopic+"/", c); err != nil {
			r.Logf("the %s prefix could not be read completely: %v", region, err)
		}
	}
	res := c.Result()
	r.SetCheck(res)
	r.Logf("checker over primary/ and secondary/ (tolerating the %d copies Kafka holds twice): %s", copies, res.Summary())
	if res.Duplicated > 0 || res.Reordered > 0 {
		r.Logf("  counted, not hidden: %d duplicate copies in the bucket, %d records out of per-key order (a failover moves a key's records to another log, and concurrent failovers reach it in any order: per-key order is not promised across regions)",
			res.Duplicated, res.Reordered)
	}
	return nil
}

// outageBothDown stops both regions, produces a few records to a topic of
// their own (with their own history: workload IDs restart at 1), heals the
// regions and returns that history.
func outageBothDown(ctx context.Context, r *harness.Run, p connectors.Producer) *history.History {
	run := r.Schedule(ctx,
		nemesis.Step{Nemesis: nemesis.RegionOutage{Region: env.Primary}},
		nemesis.Step{Nemesis: nemesis.RegionOutage{Region: env.Secondary}})
	if err := run.Wait(ctx); err != nil {
		r.Violation("both regions could not be stopped: %v", err)
	}
	h := history.New()
	cfg := outageWorkload(outageBothDownTopic, outageBothDownRecords, 0)
	cfg.History = h
	st, err := r.Produce(ctx, cfg, p)
	if err := errors.Join(err, run.Stop(context.WithoutCancel(ctx))); err != nil {
		r.Logf("both-regions-down phase: %v", err)
	}
	r.Logf("both regions down: %d records produced, %d acknowledged, %d failed, %d indeterminate",
		st.Attempted, st.Acked, st.Failed, st.Indeterminate)
	return h
}

// outageAuditBothDown reads the both-down topic in both regions (they are
// up again) and reports records acknowledged while both regions were down,
// with how many of them no region holds.
func outageAuditBothDown(ctx context.Context, r *harness.Run, h *history.History) error {
	acked := outageAckedIDs(h.Events(), outageBothDownTopic)
	r.Metric("acked_with_both_regions_down", float64(len(acked)))
	if len(acked) == 0 {
		r.Logf("none acknowledged: every caller was told its record did not make it, and can retry or fail loudly")
		return nil
	}
	held := map[uint64]bool{}
	for _, region := range []string{env.Primary, env.Secondary} {
		a, err := r.AuditTopic(ctx, region, outageBothDownTopic)
		if err != nil {
			return err
		}
		for id := range a.IDs {
			held[id] = true
		}
	}
	neither := 0
	for _, id := range acked {
		if !held[id] {
			neither++
		}
	}
	r.ViolationOf(harness.Lost, "%d of %d records produced while both regions were down were acknowledged; %d of them exist in neither region",
		len(acked), h.Count(history.Produce, ""), neither)
	return nil
}

// outageWorkload is the scenario's workload on topic. Schemas and
// MaxInFlight are spelled out: workload.Run sizes its tables from them
// before its defaults apply.
func outageWorkload(topic string, records int, rate float64) workload.Config {
	return workload.Config{Topic: topic, Records: records, Rate: rate, Keys: workload.Uniform(32),
		Schemas: []workload.SchemaStep{{From: 1, Schema: workload.SchemaV1}}, MaxInFlight: 512,
		Process: "failover-producer"}
}

// outageProducer builds the variant's producer on the two regions.
func outageProducer(r *harness.Run) (connectors.Producer, error) {
	if p, err := userProducer(r); p != nil || err != nil {
		return p, err
	}
	cfg := failover.Config{
		Primary:         r.Env.Region(env.Primary).Bootstrap(),
		Secondary:       r.Env.Region(env.Secondary).Bootstrap(),
		DeliveryTimeout: time.Second,
		KgoOpts:         env.ClientOpts(nil),
		Process:         "failover-producer",
		Logf:            outageFirstLines(r, "producer", 3),
	}
	if r.Variant == harness.Buggy {
		return failover.NewBuggy(cfg)
	}
	return failover.New(cfg)
}

// outageSinks is one S3 sink per region, each routing what it writes under
// its region's prefix of the shared bucket.
type outageSinks struct {
	sinks []*runningSink
}

func startOutageSinks(ctx context.Context, r *harness.Run, topic string) (*outageSinks, error) {
	rs := &outageSinks{}
	for _, region := range []string{env.Primary, env.Secondary} {
		s, err := startSink(ctx, r, region, topic, "s3sink-"+region, ourSink(s3sink.New, func(c *s3sink.Config) {
			c.Transforms = []s3sink.Transform{outageRoute(region)}
			c.Logf = outageFirstLines(r, "s3sink-"+region, 2)
			// The group must outlive the primary's outage (up to outageMax):
			// s3sink's default timeouts, not the catalogue's scaled-down 3s.
			c.SessionTimeout, c.RebalanceTimeout = 6*time.Second, 10*time.Second
		}))
		if err != nil {
			rs.close()
			return nil, err
		}
		rs.sinks = append(rs.sinks, s)
	}
	r.Logf("one S3 sink per region: primary writes under primary/, secondary under secondary/ of bucket %s", r.Env.Store().Bucket())
	return rs, nil
}

// close stops every sink and waits for its Run; it is idempotent.
func (rs *outageSinks) close() {
	for _, s := range rs.sinks {
		_ = s.stop()
	}
}

// outageRoute routes every record under the region's prefix.
func outageRoute(region string) s3sink.Transform {
	return s3sink.TransformFunc(func(*kgo.Record) (s3sink.Routed, error) {
		return s3sink.Routed{Route: region}, nil
	})
}

// outageAtMost fires when t does or after d, whichever comes first: an outage
// whose end depends on acks must still end if no ack ever comes.
func outageAtMost(d time.Duration, t nemesis.Trigger) nemesis.Trigger {
	return func(ctx context.Context) error {
		tctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		_ = t(tctx)
		return ctx.Err()
	}
}

// outageProducedDuringFault counts the produce outcomes recorded between
// the first start of fault and its heal (or the end of the history).
func outageProducedDuringFault(events []history.Event, fault string) int {
	n, active := 0, false
	for _, e := range events {
		switch {
		case e.Type == history.Fault && e.Fault == fault:
			if e.Phase == history.Heal && active {
				return n
			}
			active = active || e.Phase == history.Start
		case e.Type == history.Produce && active:
			n++
		}
	}
	return n
}

// outageAcksByRegion counts the acks on topic by the region the producer
// named in each; an ack naming no region is shown as "none".
func outageAcksByRegion(events []history.Event, topic string) string {
	by := map[string]int{}
	for _, e := range events {
		if e.Type == history.Produce && e.Outcome == history.Acked && e.Topic == topic {
			region := e.Region
			if region == "" {
				region = "none"
			}
			by[region]++
		}
	}
	return fmt.Sprint(by)
}

// outageAckedIDs lists the IDs the producer was told were acknowledged on topic.
func outageAckedIDs(events []history.Event, topic string) []uint64 {
	var ids []uint64
	for _, e := range events {
		if e.Type == history.Produce && e.Outcome == history.Acked && e.Topic == topic {
			ids = append(ids, e.RecordID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func outageFirstIDs(ids []uint64) []uint64 { return ids[:min(len(ids), 10)] }

// outageProducerCounts is the producer's metrics on one line.
func outageProducerCounts(p connectors.Producer) string {
	mfs, err := producerMetrics(p).Gather()
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := strings.TrimPrefix(mf.GetName(), "pipechaos_failover_")
			for _, l := range m.GetLabel() {
				if l.GetName() != "process" {
					name += "{" + l.GetValue() + "}"
				}
			}
			out = append(out, fmt.Sprintf("%s=%g", name, m.GetCounter().GetValue()))
		}
	}
	if len(out) == 0 {
		return "none (the producer exposes no metrics of its own)"
	}
	return fmt.Sprint(out)
}

// outageFirstLines passes the first n lines of who's log to the narrative
// and says when it stops.
func outageFirstLines(r *harness.Run, who string, n int) func(string, ...any) {
	var mu sync.Mutex
	seen := 0
	return func(format string, args ...any) {
		mu.Lock()
		seen++
		k := seen
		mu.Unlock()
		switch {
		case k <= n:
			r.Logf(format, args...)
		case k == n+1:
			r.Logf("(further %s log lines are not shown)", who)
		}
	}
}
