package workload

// The record contract shared by the workload, the sinks and the checker.
//
// A Kafka record produced by the workload has:
//   - Key: the record's key (see Keys).
//   - Value: Confluent wire format: magic byte 0, the 4-byte big-endian schema
//     id from the registry, then the Avro binary encoding of the value under
//     that schema.
//   - Header IDHeader: the record's unique ID in decimal. The same ID is the
//     value's "id" field, so a sink that drops headers keeps it.
//   - Header SiteHeader: the routing header of the null-header incident,
//     unless the workload's header mix says absent / null / malformed.
//
// A sink writes objects whose records carry the value's fields; the checker
// reads the "id" (and "key") field of every record in every object.

import "github.com/pipechaos/pipechaos/connectors"

const (
	// IDHeader carries the record's unique ID in decimal.
	IDHeader = connectors.IDHeader
	// SiteHeader is the routing header of incident 1.
	SiteHeader = "wm-site-id"
	// Subject is the registry subject the workload registers under (the
	// Confluent TopicNameStrategy for a topic is "<topic>-value").
	SubjectSuffix = "-value"
)

// SchemaV1 is the first version of the record.
const SchemaV1 = `{
  "type": "record", "name": "Event", "namespace": "pipechaos",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "key", "type": "string"},
    {"name": "produced_at_us", "type": "long"},
    {"name": "payload", "type": "bytes"}
  ]
}`

// SchemaV2 adds an optional field with a default: a BACKWARD-compatible,
// additive change (the migration of incident 7 done right).
const SchemaV2 = `{
  "type": "record", "name": "Event", "namespace": "pipechaos",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "key", "type": "string"},
    {"name": "produced_at_us", "type": "long"},
    {"name": "payload", "type": "bytes"},
    {"name": "tenant", "type": ["null", "string"], "default": null}
  ]
}`

// SchemaV3Incompatible changes the type of "key" from string to long and
// adds a required field: any compatibility level but NONE rejects it.
const SchemaV3Incompatible = `{
  "type": "record", "name": "Event", "namespace": "pipechaos",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "key", "type": "long"},
    {"name": "produced_at_us", "type": "long"},
    {"name": "payload", "type": "bytes"},
    {"name": "tenant", "type": "string"}
  ]
}`
