// Package connectors holds the systems under test — each in its own
// package with the correct implementation and one buggy variant carrying
// the defect of an incident — and the roles a user's own implementation
// plugs into:
//
//   - Sink: a Kafka→S3 sink (connectors/s3sink is ours). Anything that
//     consumes a topic with a consumer group, writes objects whose records
//     carry the workload's "id" field (Avro OCF or JSON lines) under
//     topics/<topic>/, and commits offsets, can be proven by the scenarios
//     in scenarios.SinkConformance.
//   - Producer: workload.Producer (connectors/failover is ours).
//   - Transform: s3sink.Transform (connectors/headerfilter is ours).
//
// A connector only ever sees addresses (Addresses), so the same code runs
// against the embedded and the containers backend.
package connectors

import "context"

// Addresses is everything a sink needs to find the environment.
type Addresses struct {
	Brokers     []string
	Topic       string
	Group       string
	RegistryURL string
	S3Endpoint  string // host:port, plain HTTP
	S3AccessKey string
	S3SecretKey string
	Bucket      string
}

// Sink is the role of a Kafka→S3 sink under test. Run consumes until ctx is
// done or Close is called (returning nil then) or a fatal error.
type Sink interface {
	Run(ctx context.Context) error
	Close()
}

// SinkFactory builds a sink from addresses. name is unique per sink in a
// run (use it as a metrics label or client id).
type SinkFactory func(a Addresses, name string) (Sink, error)
