package scenarios

// Incident 7: schema drift during a migration.
//
// Symptom: during a migration the table writer started failing with
// IncompatibleSchemaException; the records of the new version never
// reached the table while the old ones kept flowing.
//
// Root cause: nothing enforced schemas at the Kafka layer, producers wrote
// what they wanted, and the writer kept the schema it had started with.
// connectors/s3sink's buggy variant (buggy_schema.go: NewCachedWriterSchema)
// carries the writer's half of it: it caches the writer schema of the
// first record and decodes every later record with it, ignoring the schema
// id in each record's wire-format header. A v2 record decoded with v1
// leaves the bytes of the new field unread: it is undecodable, so it goes to
// the dead-letter objects instead of the data.
//
// Fix: a registry that enforces compatibility (BACKWARD here, the registry's
// default): additive evolution — a new optional field with a default — is
// accepted, an incompatible change is rejected at registration, so the
// producer hears "no" before any record is written. The sink resolves every
// record's own schema id, starts a new object when it changes (the
// flushes_total{reason="schema"} counter), and any reader resolves each
// object's writer schema to the latest one.
//
// The scenario: 3000 records to a 3-partition topic; records 1–1000 use
// SchemaV1, 1001–2400 SchemaV2 (adds an optional "tenant"), and from 2401
// the producer tries SchemaV3Incompatible ("key" becomes a long, a required
// field is added). Asserted, on the data:
//   - the checker finds every acked record in the bucket exactly once;
//   - no record of the v3 step was acked (the registry refused it), and
//     every one of them was reported failed to the producer;
//   - the sink rotated on the schema change: the bucket holds objects
//     written with SchemaV2 (the sink's flushes_total is shown only);
//   - objects exist for both writer schemas, and every record of every
//     object is readable with SchemaV2 as the reader schema (hamba/avro
//     schema resolution, the record's id unchanged);
//   - no valid record ended in a dead-letter object.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/linkedin/goavro/v2"
	"github.com/minio/minio-go/v7"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/sampler"
	"github.com/pipechaos/pipechaos/harness/workload"
)

const (
	driftTopic   = "accounts"
	driftRecords = 3000
	driftV2From  = 1001
	driftV3From  = 2401
)

var _ = register(&harness.Scenario{
	Name:        "schema-drift",
	Incident:    7,
	Consequence: harness.Lost,
	Title:       "Schema drift during a migration: v1 → v2 mid-run, then an incompatible v3",
	Story: "A migration changed the record schema with no enforcement at the Kafka layer; the table writer kept " +
		"the schema it started with and every write of the new records failed. Fix: a registry with compatibility " +
		"enforcement (additive, defaulted fields accepted; incompatible changes rejected at registration) and " +
		"readers that resolve every writer schema to one reader schema.",
	Fault: "the producer moves from SchemaV1 to SchemaV2 (optional field added) at record 1001, " +
		"then tries SchemaV3Incompatible from record 2401; the registry enforces BACKWARD",
	Checks: "0 lost; v3 rejected at registration, none of its records acked; the sink rotates objects on the " +
		"schema change; objects of both writer schemas, every record readable with SchemaV2 as reader; no dead letters",
	Budget: 20 * time.Second,
	Run:    runSchemaDrift,
})

// driftSchemas is the producer's migration: v1, then v2, then the
// incompatible v3 attempt.
var driftSchemas = []workload.SchemaStep{
	{From: 1, Schema: workload.SchemaV1},
	{From: driftV2From, Schema: workload.SchemaV2},
	{From: driftV3From, Schema: workload.SchemaV3Incompatible},
}

// driftSink is the sink of the variant: the fixed one resolves every
// record's schema id, the buggy one caches the first writer schema.
func driftSink(r *harness.Run) sinkBuilder {
	return ourSink(sinkFor(r, s3sink.NewCachedWriterSchema), nil)
}

func runSchemaDrift(ctx context.Context, r *harness.Run) error {
	pl, err := startPipeline(ctx, r, driftTopic, 3, driftSink(r), schemaProbe)
	if err != nil {
		return err
	}
	defer pl.close()
	r.Logf("the producer writes %d records: SchemaV1, SchemaV2 from record %d, SchemaV3Incompatible from record %d; "+
		"the %s sink consumes them", driftRecords, driftV2From, driftV3From, r.Variant)
	if _, err := r.Produce(ctx, workload.Config{Topic: driftTopic, Records: driftRecords, Rate: 3000, Schemas: driftSchemas}, pl.prod); err != nil {
		return err
	}
	if err := drainAndCheck(ctx, r, pl.sink, driftTopic); err != nil {
		return err
	}
	pl.smp.Stop()
	return checkDrift(ctx, r, driftTopic, driftV2From, driftV3From)
}

// schemaProbe samples what a schema change does in the sink: flushes by
// reason, records it could not decode, dead letters.
func schemaProbe(pl *pipeline) sampler.Probe {
	return sampler.Prometheus(pl.sink.metrics(), "pipechaos_s3sink_flushes_total",
		"pipechaos_s3sink_decode_errors_total", "pipechaos_s3sink_dead_letter_records_total")
}

// checkDrift checks what a v1 → v2 (→ rejected v3, if v3From > 0) migration
// must leave behind, from the history and the bucket.
func checkDrift(ctx context.Context, r *harness.Run, topic string, v2From, v3From uint64) error {
	events := r.History.Events()
	v2Acked := 0
	for _, e := range events {
		if e.Type == history.Produce && e.RecordID >= v2From && (v3From == 0 || e.RecordID < v3From) && e.Outcome == history.Acked {
			v2Acked++
		}
	}
	if v3From > 0 {
		if err := checkV3Rejected(r, events, v3From); err != nil {
			return err
		}
	}

	if userOf(r) != nil {
		return checkUserDrift(ctx, r, topic, v2From, v3From, v2Acked)
	}
	// The sink's own count of rotations is shown; whether it started new
	// objects on the change is judged from the bucket (an Avro object file
	// has one writer schema, so v2 records are in objects of their own).
	rot, _ := sampledCounter(events, "pipechaos_s3sink_flushes_total", map[string]string{"reason": "schema"})
	r.Metric("sink_own_schema_flushes", rot)
	r.Logf("the sink says it started a new object on a schema change %.0f times (its flushes_total{reason=\"schema\"}, shown only)", rot)
	return checkBucketSchemas(ctx, r, topic, v2Acked)
}

// checkV3Rejected judges the incompatible step from the producer's history:
// the registry must have refused it, and every record of it must have been
// reported failed.
func checkV3Rejected(r *harness.Run, events []history.Event, v3From uint64) error {
	var attempted, acked, failed int
	for _, e := range events {
		if e.Type != history.Produce || e.RecordID < v3From {
			continue
		}
		attempted++
		switch e.Outcome {
		case history.Acked:
			acked++
		case history.Failed:
			failed++
		}
	}
	if attempted == 0 {
		return harness.Inconclusive("the producer never reached the v3 step (record %d)", v3From)
	}
	r.Logf("v3 step: %d records attempted, %d reported failed to the producer, %d acked", attempted, failed, acked)
	r.Metric("v3_acked", float64(acked))
	if acked > 0 {
		r.Violation("%d records of the incompatible v3 schema were acked: the registry let it in", acked)
	}
	if failed < attempted-acked {
		r.Violation("%d records of the v3 step ended neither acked nor failed: the rejection did not reach the producer",
			attempted-acked-failed)
	}
	return nil
}

// checkBucketSchemas reads the bucket: objects per writer schema, every
// record through the latest reader schema, and dead letters.
func checkBucketSchemas(ctx context.Context, r *harness.Run, topic string, v2Acked int) error {
	cl, err := harness.StoreClient(r.Env.Store())
	if err != nil {
		return err
	}
	rd, err := readAsLatest(ctx, cl, r.Env.Store().Bucket(), "topics/"+topic+"/", workload.SchemaV2)
	if err != nil {
		return err
	}
	r.Logf("bucket: %d objects written with SchemaV1, %d with SchemaV2, %d with another schema; "+
		"%d records read through SchemaV2 as reader, %d unreadable", rd.v1, rd.v2, rd.other, rd.records, rd.unreadable)
	r.Metric("objects_v1", float64(rd.v1))
	r.Metric("objects_v2", float64(rd.v2))
	if rd.unreadable > 0 {
		r.ViolationOf(harness.Corrupt, "%d records in the bucket cannot be read with the latest reader schema (first: %s)", rd.unreadable, rd.firstErr)
	}
	if v2Acked > 0 && rd.v2 == 0 {
		r.ViolationOf(harness.Lost, "the sink never started an object for the new schema: no object in the bucket was written with SchemaV2 although %d v2 records were acked", v2Acked)
	}
	if rd.other > 0 {
		r.Violation("%d objects were written with a schema that is neither v1 nor v2", rd.other)
	}
	dl, err := deadLetters(ctx, r, "dlq/topics/"+topic+"/")
	if err != nil {
		return err
	}
	r.Metric("dead_letters", float64(dl.records))
	if dl.records > 0 {
		r.ViolationOf(harness.DeadLettered, "%d valid records were sent to dead-letter objects as undecodable (reason %s: %s)", dl.records, dl.reason, dl.err)
	}
	return nil
}

// latestRead is what reading a bucket prefix with one reader schema found.
type latestRead struct {
	v1, v2, other       int // Avro objects by writer schema
	records, unreadable int
	firstErr            string
}

// readAsLatest reads every Avro object under prefix and every record in it
// through the reader schema, resolving the object's writer schema (from its
// header) to it, as a downstream reader on the latest version would.
func readAsLatest(ctx context.Context, cl *minio.Client, bucket, prefix, readerSchema string) (latestRead, error) {
	var out latestRead
	parse := func(s string) (avro.Schema, error) { return avro.ParseWithCache(s, "", &avro.SchemaCache{}) }
	reader, err := parse(readerSchema)
	if err != nil {
		return out, fmt.Errorf("parse the reader schema: %w", err)
	}
	v1, _ := parse(workload.SchemaV1)
	v2, _ := parse(workload.SchemaV2)
	fail := func(n int, format string, args ...any) {
		out.unreadable += n
		if out.firstErr == "" {
			out.firstErr = fmt.Sprintf(format, args...)
		}
	}
	for info := range cl.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if info.Err != nil {
			return out, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, info.Err)
		}
		if !strings.HasSuffix(info.Key, ".avro") {
			continue
		}
		obj, err := cl.GetObject(ctx, bucket, info.Key, minio.GetObjectOptions{})
		if err != nil {
			return out, fmt.Errorf("get %s: %w", info.Key, err)
		}
		ocf, err := goavro.NewOCFReader(bufio.NewReader(obj))
		if err != nil {
			obj.Close()
			fail(1, "%s: not an Avro object: %v", info.Key, err)
			continue
		}
		writer, err := parse(ocf.Codec().Schema())
		if err != nil {
			obj.Close()
			fail(1, "%s: writer schema does not parse: %v", info.Key, err)
			continue
		}
		switch writer.Fingerprint() {
		case v1.Fingerprint():
			out.v1++
		case v2.Fingerprint():
			out.v2++
		default:
			out.other++
		}
		resolved, rerr := avro.NewSchemaCompatibility().Resolve(reader, writer)
		for ocf.Scan() {
			native, err := ocf.Read()
			if err != nil {
				fail(1, "%s: %v", info.Key, err)
				break
			}
			out.records++
			if rerr != nil {
				fail(1, "%s: writer schema cannot be resolved to the reader's: %v", info.Key, rerr)
				continue
			}
			bin, err := ocf.Codec().BinaryFromNative(nil, native)
			if err != nil {
				fail(1, "%s: re-encode: %v", info.Key, err)
				continue
			}
			var rec map[string]any
			if err := avro.Unmarshal(resolved, bin, &rec); err != nil {
				fail(1, "%s: %v", info.Key, err)
				continue
			}
			if _, has := rec["tenant"]; !has || rec["id"] != native.(map[string]any)["id"] {
				fail(1, "%s: record %v read as %v", info.Key, native.(map[string]any)["id"], rec["id"])
			}
		}
		if err := ocf.Err(); err != nil && err != io.EOF {
			fail(1, "%s: %v", info.Key, err)
		}
		obj.Close()
	}
	return out, nil
}

// checkUserDrift judges a user's sink from its objects alone: Avro objects
// as ours are judged (writer schemas, read back through the latest); JSON
// lines must carry the field SchemaV2 added on every v2 record, which only
// a sink that decoded each record with its own writer schema can write.
func checkUserDrift(ctx context.Context, r *harness.Run, topic string, v2From, v3From uint64, v2Acked int) error {
	cl, err := harness.StoreClient(r.Env.Store())
	if err != nil {
		return err
	}
	var v2Seen, without int
	var first uint64
	var avroObjects int
	for info := range cl.ListObjectsIter(ctx, r.Env.Store().Bucket(), minio.ListObjectsOptions{Prefix: "topics/" + topic + "/", Recursive: true}) {
		if info.Err != nil {
			return fmt.Errorf("list the bucket: %w", info.Err)
		}
		if strings.HasSuffix(info.Key, ".avro") {
			avroObjects++
			continue
		}
		obj, err := cl.GetObject(ctx, r.Env.Store().Bucket(), info.Key, minio.GetObjectOptions{})
		if err != nil {
			return fmt.Errorf("get %s: %w", info.Key, err)
		}
		dec := json.NewDecoder(obj)
		for {
			var rec map[string]any
			if dec.Decode(&rec) != nil {
				break
			}
			id, _ := rec["id"].(float64)
			if uint64(id) < v2From || (v3From > 0 && uint64(id) >= v3From) {
				continue
			}
			v2Seen++
			if _, ok := rec["tenant"]; !ok {
				without++
				if first == 0 {
					first = uint64(id)
				}
			}
		}
		obj.Close()
	}
	if avroObjects > 0 {
		return checkBucketSchemas(ctx, r, topic, v2Acked)
	}
	r.Logf("JSON objects: %d records of the SchemaV2 step, %d without its \"tenant\" field", v2Seen, without)
	if without > 0 {
		r.ViolationOf(harness.Corrupt, "%d records of SchemaV2 were written without its \"tenant\" field (first ID %d): "+
			"the sink decoded them with an older writer schema", without, first)
	}
	return nil
}
