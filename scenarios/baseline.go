package scenarios

// Baseline: no fault at all. A seeded workload goes through Kafka into the
// S3 sink, and the checker must find every acknowledged record in the
// bucket exactly once. It is the control experiment of the catalogue: if
// this fails, no other verdict can be trusted.

import (
	"context"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
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
	pl, err := startPipeline(ctx, r, "events", 6, build)
	if err != nil {
		return err
	}
	defer pl.close()
	r.Logf("the sink consumes %q (6 partitions); 3000 records at 3000/s, no fault: every acked record must reach the bucket once", pl.topic)
	if _, err := r.Produce(ctx, workload.Config{Topic: pl.topic, Records: 3000, Rate: 3000}, pl.prod); err != nil {
		return err
	}
	return drainAndCheck(ctx, r, pl.sink, pl.topic)
}
