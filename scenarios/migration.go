package scenarios

// Combined faults: a migration on a bad day.
//
// The cross-cutting lesson of the incidents: root causes stack. One trigger
// (here, a migration that moves the record schema from v1 to v2) arrives
// while other things go wrong (the object store slows down, a broker dies),
// and each failure mode masks the others: the sink's log fills with retried
// PUTs and broker reconnections, lag grows for reasons that explain
// themselves, and the records of the new schema quietly stop reaching the
// bucket. Only the data tells them apart.
//
// The scenario stacks three faults on one run of 3000 records into a
// 6-partition topic of a three-broker region:
//   - schema drift: SchemaV1 for records 1–1200, SchemaV2 (an optional,
//     defaulted field added) from record 1201;
//   - a slow, throttling store: after 300 acked records, 30% of the PUTs
//     answer 503 SlowDown after 200ms (the sink retries them), until 2700
//     records are acked;
//   - a broker crash: broker 1 dies after 600 acked records and restarts on
//     its data after 1800.
//
// Root cause and fix are incident 7's (schema_drift.go): a writer that
// keeps the first schema it saw sends every record of the new version to
// the dead letters; the fix resolves each record's own schema id and
// rotates objects on a change. The other two faults add the noise that hid
// it: retried PUTs, a leadership move, a lag that explains itself.
//
// The fixed sink must come through it all: 0 lost, 0 duplicates in Kafka
// (idempotent producer), objects of both writer schemas, every record
// readable with SchemaV2 as reader, no dead letters, the group drained. The
// buggy one is the cached-writer-schema sink of incident 7
// (s3sink.NewCachedWriterSchema): the harness must name every consequence
// of its defect although the other faults are there to hide it.

import (
	"context"
	"errors"
	"time"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/nemesis"
	"github.com/pipechaos/pipechaos/harness/workload"
)

const (
	migrationTopic   = "ledger"
	migrationRecords = 3000
	migrationV2From  = 1201
)

var _ = register(&harness.Scenario{
	Name:        "migration",
	Incident:    7,
	Consequence: harness.Lost,
	Title:       "A migration on a bad day: schema drift, a slow store and a broker crash at once",
	Story: "Root causes stack and mask each other: a migration moves the record schema from v1 to v2 while the " +
		"object store slows down and a broker dies. Retries and reconnections fill the logs; the records of the " +
		"new schema stop reaching the bucket unnoticed. Only the data — counted by ID, read back with the latest " +
		"schema — tells the failures apart.",
	Fault: "SchemaV1 → SchemaV2 at record 1201; 30% of store PUTs answer 503 SlowDown after 200ms from 300 to 2700 acked records; " +
		"primary broker 1 crashes after 600 acked records and restarts after 1800",
	Checks: "0 lost; 0 duplicates in Kafka; objects of both writer schemas, every record readable with SchemaV2 " +
		"as reader; no dead letters; the group drains",
	Budget: 25 * time.Second,
	Run:    runMigration,
})

func runMigration(ctx context.Context, r *harness.Run) error {
	pl, err := startPipeline(ctx, r, migrationTopic, 6, driftSink(r), schemaProbe)
	if err != nil {
		return err
	}
	defer pl.close()
	r.Logf("the %s sink consumes %q while three faults stack: a v1 → v2 migration at record %d, a slow store, a broker crash",
		r.Variant, migrationTopic, migrationV2From)
	slow := r.Schedule(ctx, nemesis.Step{
		Nemesis: nemesis.HTTPFault{Service: nemesis.TargetStore,
			Fault: env.HTTPFault{Latency: 200 * time.Millisecond, Status: 503, Code: "SlowDown", Probability: 0.3, Methods: []string{"PUT"}}},
		Start: nemesis.AfterAcked(r.History, 300),
		Heal:  nemesis.AfterAcked(r.History, 2700),
	})
	crash := r.Schedule(ctx, nemesis.Step{
		Nemesis: nemesis.BrokerCrash{Region: env.Primary, Node: 1},
		Start:   nemesis.AfterAcked(r.History, 600),
		Heal:    nemesis.AfterAcked(r.History, 1800),
	})
	_, perr := r.Produce(ctx, workload.Config{Topic: migrationTopic, Records: migrationRecords, Rate: 1500,
		Schemas: []workload.SchemaStep{{From: 1, Schema: workload.SchemaV1}, {From: migrationV2From, Schema: workload.SchemaV2}}}, pl.prod)
	if err := errors.Join(perr, slow.Stop(context.WithoutCancel(ctx)), crash.Stop(context.WithoutCancel(ctx))); err != nil {
		return err
	}
	if spans := history.Faults(r.History.Events()); len(spans) < 2 {
		return harness.Inconclusive("only %d of the 2 faults started before the workload ended", len(spans))
	}
	narrateFaults(r)

	if err := checkKafkaDuplicates(ctx, r, migrationTopic); err != nil {
		return err
	}
	if err := drainAndCheck(ctx, r, pl.sink, migrationTopic); err != nil {
		return err
	}
	pl.smp.Stop()
	retries, _ := sampledCounter(r.History.Events(), "pipechaos_s3sink_retries_total", nil)
	r.Logf("what the logs were full of: %.0f retries of store writes, schema lookups and commits", retries)
	return checkDrift(ctx, r, migrationTopic, migrationV2From, 0)
}
