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
// harness.
func TestSinkConformanceExample(t *testing.T) {
	scenarios.SinkConformance(t, func(a connectors.Addresses, name string) (connectors.Sink, error) {
		return s3sink.New(s3sink.Config{
			Brokers: a.Brokers, Topic: a.Topic, Group: a.Group, RegistryURL: a.RegistryURL,
			S3Endpoint: a.S3Endpoint, S3AccessKey: a.S3AccessKey, S3SecretKey: a.S3SecretKey, Bucket: a.Bucket,
			Process: name,
		})
	})
}
