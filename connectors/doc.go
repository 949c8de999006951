// Package connectors holds the systems under test — each in its own
// package with the correct implementation and one buggy variant carrying
// the defect of an incident — and the roles a user's own implementation
// plugs into (roles.go):
//
//   - Sink: a Kafka→S3 sink (connectors/s3sink is ours). Anything that
//     consumes a topic with a consumer group, writes objects whose records
//     carry the workload's "id" field (Avro OCF or JSON lines) under
//     topics/<topic>/, and commits offsets, can be proven by the scenarios
//     in scenarios.SinkConformance.
//   - Producer and its Ack: a producer in front of Kafka
//     (connectors/failover is ours). The harness wraps it in its own
//     recorder: what a producer acknowledged is recorded by the harness,
//     never reported by the producer.
//   - Transform: a record transform in a sink's chain
//     (connectors/headerfilter is ours).
//   - Policy: a scaling policy for a pool of consumers
//     (connectors/autoscaler is ours).
//   - Job: a batch job run again and again (connectors/batchloader is ours),
//     proven by silent-stop in scenarios.JobConformance.
//
// A connector only ever sees addresses (Addresses), so the same code runs
// against every backend. Nothing under connectors/ imports the harness: the
// system under test never writes the history it is judged by; the harness
// observes it from outside (the store's request log, the group coordinator,
// committed offsets, the bucket).
package connectors
