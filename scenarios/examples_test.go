package scenarios_test

import (
	"testing"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/scenarios"
)

// TestSinkConformanceExample shows how a team plugs its own sink into the
// scenarios: a factory that builds it from addresses. Here the "own" sink is
// connectors/s3sink configured as a user would, knowing nothing of the
// harness, with its default (production) timings; it runs as a child
// process of this test binary. The catalogue runs the same sink through
// every scenario already, so this example keeps to two of them (see
// jsonsink_test.go for a foreign sink through all of them).
func TestSinkConformanceExample(t *testing.T) {
	scenarios.SinkConformance(t, func(a connectors.Addresses, name string) (connectors.Sink, error) {
		return s3sink.New(s3sink.Config{
			Brokers: a.Brokers, Topic: a.Topic, Group: a.Group, RegistryURL: a.RegistryURL,
			S3Endpoint: a.S3Endpoint, S3AccessKey: a.S3AccessKey, S3SecretKey: a.S3SecretKey, Bucket: a.Bucket,
			Process: name,
		})
	}, scenarios.InOrder(), scenarios.Only("baseline", "broker-crash"))
}
