package scenarios

// Broker crash: the baseline of process faults. One of the primary region's
// three brokers dies abruptly mid-run — its connections drop, leadership of
// its partitions moves to the survivors — and later restarts on the same
// address with its data (kfake persistence). Nothing acknowledged may be
// lost, and the idempotent producer must not have written any record twice
// into Kafka, whatever retries the crash caused.

import (
	"context"
	"errors"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/nemesis"
	"github.com/pipechaos/pipechaos/harness/workload"
)

var _ = register(&harness.Scenario{
	Name:  "broker-crash",
	Title: "One broker crashes and restarts on its data mid-run",
	Story: "A broker process dies (kill -9, OOM, host loss). Producers and consumers must move to the new " +
		"leaders, retry what was in flight, and pick up where they were once it is back.",
	Fault:    "primary broker 1 crashes after 800 acked records and restarts after 1000 more",
	Checks:   "0 lost in the bucket; 0 duplicates in Kafka (idempotent producer); the group drains to zero lag",
	Variants: []harness.Variant{harness.Fixed},
	Run:      brokerCrash(ourSink(s3sink.New, nil)),
})

// brokerCrash runs the broker-crash scenario on the sink build makes.
func brokerCrash(build sinkBuilder) func(context.Context, *harness.Run) error {
	return func(ctx context.Context, r *harness.Run) error { return runBrokerCrash(ctx, r, build) }
}

func runBrokerCrash(ctx context.Context, r *harness.Run, build sinkBuilder) error {
	pl, err := startPipeline(ctx, r, "orders", 6, build, groupLagProbe)
	if err != nil {
		return err
	}
	defer pl.close()
	r.Logf("the sink consumes %q (6 partitions of a three-broker region); broker 1 crashes after 800 acked records "+
		"and restarts on its data after 1800", pl.topic)
	before := narrateLeaders(ctx, r, "leaders before the crash", pl.topic, nil)
	sched := r.Schedule(ctx, nemesis.Step{
		Nemesis: nemesis.BrokerCrash{Region: env.Primary, Node: 1},
		Start:   nemesis.AfterAcked(r.History, 800),
		Heal: func(ctx context.Context) error {
			err := nemesis.AfterAcked(r.History, 1800)(ctx)
			narrateLeaders(ctx, r, "leaders while broker 1 is down", pl.topic, before)
			return err
		},
	})
	_, perr := r.Produce(ctx, workload.Config{Topic: pl.topic, Records: 4000, Rate: 2500}, pl.prod)
	if err := errors.Join(perr, sched.Stop(context.WithoutCancel(ctx))); err != nil {
		return err
	}
	if r.History.Count("fault", "") == 0 {
		return errors.New("the broker crash never happened (the workload ended first): the run proves nothing")
	}
	narrateFaults(r)
	narrateLeaders(ctx, r, "leaders after the restart", pl.topic, before)
	peak, at := history.Peak(r.History.Events(), "lag_total")
	r.Logf("the sink's lag peaked at %.0f records, %s into the run", peak, since(r, at))
	if err := checkKafkaDuplicates(ctx, r, pl.topic); err != nil {
		return err
	}
	return drainAndCheck(ctx, r, pl.sink, pl.topic)
}
