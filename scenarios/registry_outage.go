package scenarios

// The schema registry goes down for a while (not one of the numbered
// incidents; the outage every pipeline built on a registry meets sooner or
// later, and the place where incident 1's "never stop the pipeline" and
// incident 7's "schema contracts" meet).
//
// Symptom: during a short registry outage nothing alerted — the producers
// kept producing, the sink kept committing — yet afterwards the bucket
// missed the records of those minutes, and the dead-letter prefix, which
// nobody reads, had grown by exactly as many.
//
// Root cause: the sink looked the writer schema up in the registry on every
// flush instead of caching it, and took any lookup error for "unknown
// schema", sending the records to the dead-letter object and committing
// them (connectors/s3sink/buggy_registry.go, NewUncachedSchemas).
//
// Fix: a schema id names one immutable schema: cache its codec, and
// dead-letter only on a definite "no such schema"; retry every other error
// (s3sink.New, registry.go). With schemas cached on both sides, records of
// known schemas keep flowing through an outage; only a NEW schema cannot be
// registered, and the producer must say so loudly rather than send.
//
// The scenario: a seeded workload of 2400 records at 1500/s to a
// four-partition topic: records 1–1600 with SchemaV1, 1601–2400 with
// SchemaV2 (a new version rolled out mid-run). Once the sink has written 4
// objects and 1000 records are acked, the registry goes down (connections
// refused). Record 1600 is held until it is down, so the new version is
// registered during the outage; the registry comes back 300ms after that
// registration failed and the store saw a sink write while it was down
// (waited for up to 5s). A run in which no sink write fell inside the
// outage is inconclusive: no flush met it. (The workload registers each version once, so the
// rollout is not retried after the outage: its records all fail.)
//
// Asserted: every acked record is in the bucket exactly once (strict); no
// record went to a dead-letter object; records 1001–1600, produced during
// the outage with the cached schema, were acked; every record of the
// version registered during the outage failed with the registration error
// and none was acked.

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/nemesis"
	"github.com/pipechaos/pipechaos/harness/workload"
)

var _ = register(&harness.Scenario{
	Name:        "registry-outage",
	Consequence: harness.DeadLettered,
	Title:       "The schema registry goes down: cached schemas keep records flowing, a new schema fails loudly",
	Story: "During a short registry outage the bucket silently missed records: the sink looked the writer schema " +
		"up on every flush and took the lookup error for an unknown schema, so healthy records went to dead-letter " +
		"objects nobody reads and were committed. Fix: cache schemas by id (an id never changes), dead-letter only " +
		"on a definite 'no such schema', retry the rest; producers fail records of a schema they cannot register.",
	Fault: "once the sink has written 4 objects and 1000 records are acked, the registry refuses connections; " +
		"a new schema version is registered during the outage; the registry returns 300ms after that failed",
	Checks: "strict: every acked record in the bucket exactly once; no dead letters; records of the cached schema " +
		"acked during the outage; every record of the new schema failed with the registration error, none acked",
	Budget: 20 * time.Second,
	Run:    runRegistryOutage,
})

const (
	regTopic    = "clicks"
	regRecords  = 2400
	regRate     = 1500
	regDownAt   = 1000 // acked records before the outage
	regNewFrom  = 1601 // first record of the version rolled out during the outage
	regHoldHeal = 300 * time.Millisecond
	regOutage   = "registry-outage" // the fault's name in the history
	regMeetWait = 5 * time.Second   // at most this long for a sink write during the outage
)

func runRegistryOutage(ctx context.Context, r *harness.Run) error {
	pl, err := startPipeline(ctx, r, regTopic, 4, ourSink(sinkFor(r, s3sink.NewUncachedSchemas), nil))
	if err != nil {
		return err
	}
	defer pl.close()
	r.Logf("the %s sink consumes %q; the workload rolls out SchemaV2 at record %d, during the registry outage",
		r.Variant, regTopic, regNewFrom)

	down := func() bool { return faultPhase(r.History, regOutage, history.Start) }
	up := func() bool { return faultPhase(r.History, regOutage, history.Heal) }
	sched := r.Schedule(ctx, registryOutage(r))
	gated := &gatedProducer{Producer: pl.prod, gates: map[uint64]func() bool{regNewFrom - 1: down}}
	_, perr := r.Produce(ctx, workload.Config{Topic: regTopic, Records: regRecords, Rate: regRate, Schemas: []workload.SchemaStep{
		{From: 1, Schema: workload.SchemaV1},
		{From: regNewFrom, Schema: workload.SchemaV2},
	}}, gated)
	if perr == nil && down() {
		perr = sched.Wait(ctx) // the heal waits for the sink to meet the outage
	}
	if err := errors.Join(perr, sched.Stop(context.WithoutCancel(ctx))); err != nil {
		return err
	}
	if !down() || !up() {
		return harness.Inconclusive("the registry outage did not happen around the rollout")
	}
	narrateFaults(r)
	if n, d := writesDuringOutage(r); n == 0 {
		return harness.Inconclusive("the store saw no sink write during the %s registry outage: "+
			"no flush met it, so nothing shows how the sink looks schemas up", d.Round(time.Millisecond))
	}

	checkProducer(r)
	checkErr := drainAndCheck(ctx, r, pl.sink, regTopic)
	if err := checkNoDeadLetters(ctx, r); err != nil {
		return err
	}
	return checkErr
}

// registryOutage is the schedule: the registry refuses connections once the
// sink has written 4 objects and regDownAt records are acked, and comes
// back regHoldHeal after the rollout's registration failed.
func registryOutage(r *harness.Run) nemesis.Step {
	// The rollout failed once the producer was told a record of the new
	// schema failed (its registration was refused): read from the
	// harness's produce history, not from any log line.
	rejected := func() bool { return r.History.Count(history.Produce, history.Failed) > 0 }
	return nemesis.Step{
		Nemesis: nemesis.ServiceOutage{Service: nemesis.TargetRegistry},
		Start: nemesis.When(func() bool {
			return r.History.Count(history.SinkWrite, "") >= 4 && r.History.Count(history.Produce, history.Acked) >= regDownAt
		}),
		Heal: func(ctx context.Context) error {
			base := r.History.Count(history.SinkWrite, "")
			if err := nemesis.When(rejected)(ctx); err != nil {
				return err
			}
			// The sink must flush while the registry is down, or the
			// outage proves nothing about its lookups: on real Kafka its
			// next flush may come after the rollout already failed.
			met, cancel := context.WithTimeout(ctx, regMeetWait)
			_ = nemesis.When(func() bool { return r.History.Count(history.SinkWrite, "") > base })(met)
			cancel()
			return nemesis.After(regHoldHeal)(ctx) // how long the outage lasts after the failed rollout
		},
	}
}

// checkNoDeadLetters judges the sink side: a record whose schema the
// registry holds must never go to a dead-letter object.
func checkNoDeadLetters(ctx context.Context, r *harness.Run) error {
	dead, err := deadLetters(ctx, r, "dlq/topics/"+regTopic+"/")
	if err != nil {
		return err
	}
	r.Metric("dead_letter_records", float64(dead.records))
	r.Metric("registry_requests", float64(r.Env.Registry().Faults().Stats().Requests))
	if dead.records > 0 {
		r.ViolationOf(harness.DeadLettered, "%d records whose schema the registry holds went to %d dead-letter objects (first error: %s)",
			dead.records, dead.objects, clip(dead.err, 140))
	} else {
		r.Logf("no dead letters: the sink flushed through the outage without losing a record to its lookups")
	}
	return nil
}

// checkProducer judges the producer side from the history: records of the
// cached schema kept flowing during the outage; the version registered
// during the outage failed loudly, every record of it, and none was acked.
func checkProducer(r *harness.Run) {
	var during, newAcked, newFailed int
	var why string
	for _, e := range r.History.Filter(history.Produce) {
		switch id := e.RecordID; {
		case id > regDownAt && id < regNewFrom && e.Outcome == history.Acked:
			during++
		case id >= regNewFrom && e.Outcome == history.Acked:
			newAcked++
		case id >= regNewFrom && e.Outcome == history.Failed:
			newFailed++
			if why == "" {
				why = e.Err
			}
		}
	}
	r.Metric("acked_with_cached_schema_during_outage", float64(during))
	r.Logf("producer: %d records of the cached schema acked while the registry was down; the rollout during the "+
		"outage: %d failed, %d acked (%s)", during, newFailed, newAcked, why)
	const newCount = regRecords - regNewFrom + 1
	if during == 0 {
		r.Violation("no record was acked while the registry was down: the cached schema did not keep the producer going")
	}
	if newAcked > 0 || newFailed != newCount || !strings.Contains(why, "register schema") {
		r.Violation("of %d records of the schema registered during the outage, %d failed and %d were acked: "+
			"a schema the registry never accepted must fail every record, loudly", newCount, newFailed, newAcked)
	}
}

// gatedProducer holds the record with a gated ID until its condition holds:
// the workload's schema steps then land on the right side of a fault
// whatever the machine's speed.
type gatedProducer struct {
	workload.Producer
	gates map[uint64]func() bool
}

func (g *gatedProducer) Produce(ctx context.Context, rec *kgo.Record, done func(workload.Ack, error)) {
	if id, ok := workload.RecordID(rec); ok && g.gates[id] != nil {
		_ = nemesis.When(g.gates[id])(ctx)
	}
	g.Producer.Produce(ctx, rec, done)
}

// faultPhase reports whether the history holds the fault's phase.
func faultPhase(h *history.History, fault string, ph history.Phase) bool {
	for _, e := range h.Filter(history.Fault) {
		if e.Fault == fault && e.Phase == ph {
			return true
		}
	}
	return false
}

// writesDuringOutage counts the object writes the store saw while the
// registry was down, and how long it was down.
func writesDuringOutage(r *harness.Run) (int, time.Duration) {
	var from, to time.Time
	for _, e := range r.History.Filter(history.Fault) {
		switch {
		case e.Fault == regOutage && e.Phase == history.Start && from.IsZero():
			from = e.At
		case e.Fault == regOutage && e.Phase == history.Heal:
			to = e.At
		}
	}
	n := 0
	for _, e := range r.History.Filter(history.SinkWrite) {
		if e.Process == harness.StoreProcess && !e.At.Before(from) && !e.At.After(to) {
			n++
		}
	}
	return n, to.Sub(from)
}

// clip shortens s to n runes, marking the cut.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
