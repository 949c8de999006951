package scenarios

// Baseline: no fault at all. A seeded workload goes through Kafka into the
// S3 sink, and the checker must find every acknowledged record in the
// bucket exactly once. It is the control experiment of the catalogue: if
// this fails, no other verdict can be trusted.

import (
	"context"
	"errors"
	"time"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/workload"
)

var _ = register(&harness.Scenario{
	Name:     "baseline",
	Title:    "Producer → Kafka → S3 sink with no fault: the control run",
	Story:    "No incident: the pipeline as it should behave on a quiet day. Every other scenario is judged against it.",
	Fault:    "none",
	Checks:   "every acked record is in the bucket exactly once, in per-key order; the group drains to zero lag",
	Variants: []harness.Variant{harness.Fixed},
	Run:      baseline(ourSink(s3sink.New, nil)),
})

// baseline runs the control experiment on the sink build makes.
func baseline(build sinkBuilder) func(context.Context, *harness.Run) error {
	return func(ctx context.Context, r *harness.Run) error { return runBaseline(ctx, r, build) }
}

func runBaseline(ctx context.Context, r *harness.Run, build sinkBuilder) error {
	const topic = "events"
	if err := r.CreateTopic(ctx, env.Primary, topic, 6); err != nil {
		return err
	}
	sink, err := startSink(ctx, r, env.Primary, topic, "s3sink", build)
	if err != nil {
		return err
	}
	defer sink.stop()
	smp := r.Sample(ctx, r.StoreProbe(), sinkProbe(sink))
	defer smp.Stop()

	p, err := regionProducer(r, env.Primary)
	if err != nil {
		return err
	}
	defer p.close()
	if _, err := r.Produce(ctx, workload.Config{Topic: topic, Records: 3000, Rate: 3000}, p); err != nil {
		return err
	}
	return drainAndCheck(ctx, r, sink, topic, 8*time.Second)
}

// drainAndCheck waits for the sink's group to commit everything, stops the
// sink, and checks the bucket. A sink that never drains is a finding.
func drainAndCheck(ctx context.Context, r *harness.Run, sink *runningSink, topic string, timeout time.Duration) error {
	start := time.Now()
	ok, lag := r.Drained(ctx, sink.Region, sink.Group, topic, timeout)
	if !ok {
		r.Violation("the sink never drained: %d records stayed uncommitted after %s", lag, timeout)
	} else {
		r.Logf("group %s committed every record %s after the last produce", sink.Group, time.Since(start).Round(time.Millisecond))
	}
	if err := sink.stop(); err != nil && !errors.Is(err, context.Canceled) {
		r.Logf("the sink stopped with: %v", err)
	}
	_, err := r.CheckStore(ctx, "topics/"+topic+"/")
	return err
}
