package scenarios_test

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/connect"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/backends"
	"github.com/pipechaos/pipechaos/scenarios"
)

// TestNullHeadersConnect runs incident 1 in its own habitat: a real Kafka
// Connect worker (Apache Kafka's ConnectDistributed, the brokers' version)
// against real brokers, our Java header router as a single message
// transform in front of an S3 sink connector, errors.tolerance=none, and
// the null-headers scenario's header mix. The buggy router dereferences
// the missing header as the incident's did: its task FAILS (read from the
// worker's REST API), consumption stops and the acked records never reach
// the bucket. The fixed router sends them to its default route.
func TestNullHeadersConnect(t *testing.T) {
	if os.Getenv("PIPECHAOS_BACKEND") != env.Nodes {
		t.Skip("runs on real Apache Kafka: PIPECHAOS_BACKEND=nodes")
	}
	if why := connect.Available(); why != "" {
		t.Skip(why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	plugins, err := connect.Plugins(ctx)
	if err != nil {
		t.Fatalf("build the Connect plugins: %v", err)
	}
	worker := func(router string) connectors.SinkFactory {
		return connect.SinkFactory(connect.SinkConfig{
			Worker: connect.Config{PluginPath: []string{plugins}, Heap: "256m"},
			Connector: map[string]string{
				"connector.class": "io.pipechaos.connect.S3JsonSink", "tasks.max": "2",
				"s3.endpoint": "${s3.url}", "s3.bucket": "${bucket}",
				"s3.access.key": "${s3.access.key}", "s3.secret.key": "${s3.secret.key}",
				"flush.size": "50", "errors.tolerance": "none",
				"header.converter": "org.apache.kafka.connect.storage.StringConverter",
				"transforms":       "site", "transforms.site.type": router,
			},
		})
	}
	// A redo after a rebalance may cut other object boundaries: the
	// sink promises at-least-once, and its copies are counted.
	opts := []scenarios.SinkOption{scenarios.AtLeastOnce(0)}
	t.Run("fixed", func(t *testing.T) {
		out := scenarios.RunSinkScenarioIn(t, backends.New(t), "null-headers", worker("io.pipechaos.connect.HeaderRouter"), opts...)
		if !out.Expected() {
			t.Fatalf("the fixed router in a Connect worker failed null-headers (seed %d): %s%s%s%v", out.Seed, out.Error, out.Skipped, out.Failure, out.Inconclusive)
		}
	})
	t.Run("buggy", func(t *testing.T) {
		out := scenarios.RunSinkScenarioIn(t, backends.New(t), "null-headers", worker("io.pipechaos.connect.BuggyHeaderRouter"), opts...)
		if out.Error != "" || out.Skipped != "" || len(out.Inconclusive) > 0 {
			t.Fatalf("null-headers could not judge the buggy router (seed %d): %s%s%v", out.Seed, out.Error, out.Skipped, out.Inconclusive)
		}
		if !slices.Contains(out.Consequences, harness.NotDrained) || !slices.Contains(out.Consequences, harness.Lost) {
			t.Fatalf("the buggy router was not caught stopping the sink and losing records (seed %d): %q", out.Seed, out.Failure)
		}
		t.Logf("caught, seed %d: %s", out.Seed, out.Failure)
	})
}
