package scenarios

// Incident 2: poll timeout from slow writes.
//
// Symptom: sink workers kept leaving and rejoining their consumer group;
// partitions moved back and forth, batches were written again, and the lag
// grew instead of draining.
//
// Root cause: the worker wrote each batch to object storage inside its poll
// loop. A large batch took longer to write than the consumer was allowed
// between polls (max.poll.interval.ms, 5 minutes by default), so the group
// gave up on the member while it was still writing: its partitions went to
// another member, which consumed them again from the last commit, and the
// member's own commit failed when it came back. In franz-go terms
// (connectors/s3sink, buggy_poll.go: NewBlockingPoll): with
// BlockRebalanceOnPoll the loop holds every rebalance until it has
// written what it polled, so a write slower than the rebalance timeout
// keeps the member from rejoining in time and the group removes it.
//
// Fix: the poll loop never waits for the store. The fixed sink writes in a
// goroutine per partition, keeps polling and allowing rebalances, and is
// paced by its byte budget; a revoked partition's write gets three
// quarters of the rebalance timeout and is then abandoned, uncommitted, for
// the new owner to redo (deterministic object names: the redo overwrites).
// Commit only after the write is durable.
//
// The scenario, scaled down: session and rebalance timeouts of 1s; a
// 6-partition topic; sink member A alone at first. After 300 acked records
// the store starts answering every PUT 2s late; as soon as it holds the
// first one, member B joins the group, which asks A to rebalance while its
// write is in progress. The latency
// heals once every record is acked and the coordinator shows the rebalance
// that join started settled, a rebalance timeout after it began. The run
// is inconclusive unless a PUT the store held was in flight when the
// coordinator showed the rebalance begin and stayed held a rebalance
// timeout past it (or was given up by its writer): a rebalance that only
// met the tail of a write proves nothing. Asserted, from the data:
//   - every acked record reaches the bucket (0 lost), and duplicates stay
//     within the at-least-once bound derived from the run: one object's
//     worth (the largest object in the bucket) per partition for every
//     rebalance the group coordinator showed (DescribeGroups, sampled);
//   - no member is kicked out of the group: the coordinator's member list,
//     sampled every 100ms with DescribeGroups, shows exactly one member ID
//     per sink process (a removed member rejoins under a new ID);
//   - the group drains within 8s of the end of the workload.
// The peak group lag and the rebalance counts are reported for both.

import (
	"context"
	"errors"
	"time"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/nemesis"
	"github.com/pipechaos/pipechaos/harness/sampler"
	"github.com/pipechaos/pipechaos/harness/workload"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	pollTopic      = "payments"
	pollRecords    = 3000
	pollRate       = 1000
	pollSlowAfter  = 300
	pollLatency    = 2 * time.Second
	pollTimeout    = time.Second
	pollPartitions = 6
	rebalances     = "pipechaos_s3sink_rebalances_total"
)

var _ = register(&harness.Scenario{
	Name:        "poll-timeout",
	Incident:    2,
	Consequence: harness.Churn,
	Title:       "Poll timeout from slow writes: a member busy writing is kicked out of its group",
	Story: "Batches took longer to write to object storage than the consumer was allowed between polls: the " +
		"member was kicked from the group, its partitions moved, work was redone and the lag grew. Fix: never " +
		"write inside the poll loop (write in the background, pace with a byte budget, keep allowing " +
		"rebalances), tune the timeouts so a slow write cannot exceed them, commit only after the write is durable.",
	Fault: "after 300 acked records every store PUT takes 2s (rebalance and session timeouts 1s); a second " +
		"sink member joins the group while a PUT is held; healed when the workload is acked and the coordinator shows that rebalance settled",
	Checks: "0 lost; duplicates within one object per revocation; no member is kicked (one member ID per sink " +
		"process in the coordinator's sampled member list, rebalances_total{kind=\"lost\"} = 0); the group drains",
	Budget: 25 * time.Second,
	Run:    runPollTimeout,
})

func runPollTimeout(ctx context.Context, r *harness.Run) error {
	build := sinkFor(r, s3sink.NewBlockingPoll)
	member := func(name string) sinkBuilder {
		return ourSink(build, func(c *s3sink.Config) {
			c.Process = name
			c.SessionTimeout, c.RebalanceTimeout = pollTimeout, pollTimeout
			c.FlushSize = 200
		})
	}
	pl, err := startPipeline(ctx, r, pollTopic, pollPartitions, member("s3sink-a"), groupLagProbe, groupProbe)
	if err != nil {
		return err
	}
	defer pl.close()
	r.Logf("%s sink member s3sink-a consumes %q alone; session and rebalance timeouts %s", r.Variant, pollTopic, pollTimeout)

	held, ok := watchHeldWrites(r.Env.Store())
	if !ok {
		return errors.New("poll-timeout: the store's fault layer cannot be observed on this backend (which PUTs it held)")
	}
	defer held.stop()
	watch := newRebalanceWatch()
	defer watch.stop()
	sched := r.Schedule(ctx, nemesis.Step{
		Nemesis: nemesis.HTTPFault{Service: nemesis.TargetStore, Fault: env.HTTPFault{Latency: pollLatency, Methods: []string{"PUT"}}},
		Start:   nemesis.AfterAcked(r.History, pollSlowAfter),
		Heal:    healAfterRebalance(r, watch),
	})
	produced := make(chan error, 1)
	go func() {
		_, err := r.Produce(ctx, workload.Config{Topic: pollTopic, Records: pollRecords, Rate: pollRate}, pl.prod)
		produced <- err
	}()
	b, err := joinWhileHeld(ctx, r, pl.admin, watch, member("s3sink-b"))
	if err != nil {
		return errors.Join(err, <-produced)
	}
	defer b.close()
	err = <-produced
	if b.sink != nil && err == nil {
		err = sched.Wait(ctx) // the heal waits for the coordinator (healAfterRebalance)
	}
	if err := errors.Join(err, sched.Stop(context.WithoutCancel(ctx))); err != nil {
		return err
	}
	if b.sink == nil {
		return harness.Inconclusive("the store never became slow (the workload ended first)")
	}
	narrateFaults(r)
	judgeMeeting(ctx, r, watch, held)

	ok, lag := r.Drained(ctx, env.Primary, sinkGroup, pollTopic, drainTimeout)
	if !ok {
		r.ViolationOf(harness.NotDrained, "the group never drained: %d records stayed uncommitted %s after the workload", lag, drainTimeout)
	}
	for _, s := range []*runningSink{pl.sink, b.sink} {
		if err := s.stop(); err != nil && !errors.Is(err, context.Canceled) {
			r.Logf("sink %s stopped with: %v", s.Group, err)
		}
	}
	pl.smp.Stop()
	b.close()
	return judgeGroup(ctx, r)
}

// secondMember is member s3sink-b and its sampler.
type secondMember struct {
	sink *runningSink
	smp  *sampler.Sampler
}

func (m *secondMember) close() {
	if m.smp != nil {
		m.smp.Stop()
	}
	if m.sink != nil {
		_ = m.sink.stop()
	}
}

// joinWhileHeld starts the second member once the store holds a PUT: the
// group must rebalance while member A is writing. watch follows that
// rebalance at the coordinator from just before the join. Its sink is nil
// if the store never held a PUT before ctx ended.
func joinWhileHeld(ctx context.Context, r *harness.Run, admin *kgo.Client, watch *rebalanceWatch, build sinkBuilder) (*secondMember, error) {
	m := &secondMember{}
	held := func() bool { return r.Env.Store().Faults().Stats().Faulted > 0 }
	if err := nemesis.When(held)(ctx); err != nil {
		return m, nil
	}
	r.Logf("member s3sink-b joins the group while a PUT is held (every PUT takes %s)", pollLatency)
	watch.start(ctx, admin, sinkGroup)
	var err error
	if m.sink, err = startSink(ctx, r, env.Primary, pollTopic, sinkGroup, build); err != nil {
		return m, err
	}
	m.smp = r.Sample(ctx, sinkProbe(m.sink))
	return m, nil
}

// judgeGroup reads, from the history, what the group went through — the
// member IDs and rebalances the coordinator showed, the peak lag — and
// checks the bucket within the at-least-once bound they allow. The sinks'
// own rebalance counters are reported, never judged.
func judgeGroup(ctx context.Context, r *harness.Run) error {
	events := r.History.Events()
	observed, sampled := series(events, sampler.GroupRebalances, nil).counterTotal()
	if !sampled {
		r.Inconclusive("the group coordinator was never sampled: the group's behaviour cannot be judged")
	}
	own, _ := sampledCounter(events, rebalances, nil)
	peakLag, _ := history.Peak(events, "lag_total")
	counts, err := objectRecords(ctx, r, "topics/"+pollTopic+"/")
	if err != nil {
		return err
	}
	largest := 0
	for _, n := range counts {
		largest = max(largest, n)
	}
	bound := int(observed) * pollPartitions * largest
	members := map[string]bool{}
	for _, e := range series(events, sampler.GroupMember, nil) {
		members[e.Labels["member"]] = true
	}
	r.Metric("group_member_ids", float64(len(members)))
	r.Metric("group_rebalances", observed)
	r.Metric("sinks_own_rebalance_events", own)
	r.Metric("peak_group_lag", peakLag)
	r.Logf("the group's coordinator saw %d member IDs for the 2 sink processes and %.0f rebalances (the sinks counted %.0f "+
		"rebalance events of their own, shown only); peak group lag %.0f records; duplicate bound: %.0f rebalances × %d partitions × "+
		"%d records (the largest object) = %d", len(members), observed, own, peakLag, observed, pollPartitions, largest, bound)
	res, err := r.CheckStore(ctx, "topics/"+pollTopic+"/", checker.MaxDuplicates(bound))
	if err != nil {
		return err
	}
	if len(members) > 2 {
		r.ViolationOf(harness.Churn, "members were kicked out of the group and rejoined under new IDs: the coordinator saw %d member IDs "+
			"for 2 sink processes and %.0f rebalances; %d records redone into the bucket twice, "+
			"group lag peaked at %.0f records", len(members), observed, res.Duplicated, peakLag)
	}
	if res.Duplicated > 0 {
		r.Logf("%d records are in the bucket more than once: work redone by the member that took their partitions "+
			"over (at-least-once bound %d)", res.Duplicated, bound)
	}
	return nil
}

// groupProbe samples the pipeline's group at its coordinator.
func groupProbe(pl *pipeline) sampler.Probe { return sampler.Group(pl.admin, pl.sink.Group) }
