package scenarios

// Acknowledged, then lost. A producer with acks=1 is answered by the leader
// alone. The leader is cut from its followers while they are still in the
// ISR (the controller never hears of a shrink), keeps acknowledging, and is
// killed; a follower that never fetched those records is elected, and the
// old leader truncates them when it rejoins. Only real replication shows
// this: on kfake the scenario skips.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/nemesis"
	"github.com/pipechaos/pipechaos/harness/workload"
)

var _ = register(&harness.Scenario{
	Name:  "acks-durability",
	Title: "acks=1: acknowledged by a leader that then dies, gone after the election",
	Story: "\"It was acknowledged, so it is safe.\" With acks=1 only the leader has the record when it answers. " +
		"A leader cut from its followers keeps acknowledging until it dies; a follower still in the ISR becomes " +
		"leader without those records. Fix: acks=all, idempotence, min.insync.replicas=2, no unclean election.",
	Fault:       "the leader of the partition is cut from its peers after 300 acks, killed 1.5 s later, then healed and restarted",
	Checks:      "every acknowledged record is still in Kafka, read back after healing (counted by ID)",
	Budget:      3 * time.Minute,
	Consequence: harness.Lost,
	Run:         runAcksDurability,
})

func runAcksDurability(ctx context.Context, r *harness.Run) error {
	const topic = "ledger"
	if _, ok := r.Env.Region(env.Primary).(env.Replicated); !ok {
		return fmt.Errorf("acks-durability needs replicated partitions: %w (kfake has no replication)", env.ErrUnsupported)
	}
	if err := r.CreateTopic(ctx, env.Primary, topic, 1); err != nil {
		return err
	}
	before, err := partitionLeaders(ctx, r, env.Primary, topic)
	if err != nil {
		return err
	}
	leader := before[0].Leader
	r.Logf("before: %s", describeLeaders(before, nil))
	acks := []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())} // idempotent by default; the topic has min.insync.replicas=2
	if r.Variant == harness.Buggy {
		acks = []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}
	}
	p, err := regionProducer(r, env.Primary, append(acks, kgo.RecordDeliveryTimeout(20*time.Second))...)
	if err != nil {
		return err
	}
	defer p.close()
	sched := r.Schedule(ctx,
		nemesis.Step{Nemesis: leaderLoss{node: leader}, Start: nemesis.AfterAcked(r.History, 300)},
		nemesis.Step{Nemesis: leaderLoss{node: leader, kill: true}, Start: nemesis.After(1500 * time.Millisecond)})
	_, perr := r.Produce(ctx, workload.Config{Topic: topic, Records: 3000, Rate: 400}, p)
	if err := errors.Join(perr, sched.Stop(context.WithoutCancel(ctx))); err != nil {
		return err
	}
	after, err := partitionLeaders(ctx, r, env.Primary, topic)
	if err != nil {
		return err
	}
	r.Logf("after: %s", describeLeaders(after, before))
	if r.History.Count("fault", "") < 2 || after[0].Leader == leader {
		return harness.Inconclusive("the leader was never cut off and replaced (the workload ended first)")
	}
	res, err := checkAckedInKafka(ctx, r, env.Primary, topic)
	if err != nil {
		return err
	}
	if res.Lost > 0 { // phrased here, from the same reading: these were lost in Kafka, not on the way to a bucket
		r.ViolationOf(harness.Lost, "%d acknowledged records lost: acked by leader %d alone, gone after Kafka elected %d", res.Lost, leader, after[0].Leader)
		res.Violations = dropKind(res.Violations, checker.Lost)
	}
	r.SetCheck(res)
	return nil
}
