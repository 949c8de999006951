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
	"time"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/nemesis"
	"github.com/pipechaos/pipechaos/harness/sampler"
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
	const topic = "orders"
	if err := r.CreateTopic(ctx, env.Primary, topic, 6); err != nil {
		return err
	}
	sink, err := startSink(ctx, r, env.Primary, topic, "s3sink", build)
	if err != nil {
		return err
	}
	defer sink.stop()
	lag, err := r.Env.Region(env.Primary).Client()
	if err != nil {
		return err
	}
	defer lag.Close()
	smp := r.Sample(ctx, r.StoreProbe(), sinkProbe(sink), sampler.GroupLag(lag, "s3sink", topic))
	defer smp.Stop()
	p, err := regionProducer(r, env.Primary)
	if err != nil {
		return err
	}
	defer p.close()

	sched := r.Schedule(ctx, nemesis.Step{
		Nemesis: nemesis.BrokerCrash{Region: env.Primary, Node: 1},
		Start:   nemesis.AfterAcked(r.History, 800),
		Heal:    nemesis.AfterAcked(r.History, 1800),
	})
	_, perr := r.Produce(ctx, workload.Config{Topic: topic, Records: 4000, Rate: 2500}, p)
	if err := errors.Join(perr, sched.Stop(context.WithoutCancel(ctx))); err != nil {
		return err
	}
	if r.History.Count("fault", "") == 0 {
		return errors.New("the broker crash never happened (the workload ended first): the run proves nothing")
	}

	peak, at := history.Peak(r.History.Events(), "lag_total")
	for _, f := range history.Faults(r.History.Events()) {
		r.Logf("the broker was down from %s to %s into the run", since(r, f.Started), since(r, f.Healed))
	}
	r.Logf("the sink's lag peaked at %.0f records, %s into the run", peak, since(r, at))

	audit, err := r.AuditTopic(ctx, env.Primary, topic)
	if err != nil {
		return err
	}
	r.Logf("Kafka holds %d records of %q (%d distinct IDs, %d duplicates)", audit.Records, topic, audit.Unique, audit.Duplicates)
	r.Metric("kafka_duplicates", float64(audit.Duplicates))
	if audit.Duplicates > 0 {
		r.Violation("the idempotent producer wrote %d records twice into Kafka", audit.Duplicates)
	}
	return drainAndCheck(ctx, r, sink, topic, 8*time.Second)
}
