package scenarios

import (
	"context"
	"strings"
	"testing"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/backends"
)

// conformance lists the sink-agnostic scenarios, by catalogue name, with
// the constructor of their Run for a given sink.
var conformance = []struct {
	name string
	run  func(sinkBuilder) func(context.Context, *harness.Run) error
}{
	{"baseline", baseline},
	{"broker-crash", brokerCrash},
}

// SinkConformance proves a user's own Kafka→S3 sink with the sink-agnostic
// scenarios of the catalogue — the baseline and a broker crash — each in a
// fresh environment on the backend PIPECHAOS_BACKEND selects. The sink gets
// addresses only; it must write objects under topics/<topic>/ whose records
// carry the workload's "id" and "key" fields (Avro OCF with the writer
// schema, or JSON lines) and commit offsets only after its objects are
// durable. Each scenario is a subtest; a failure carries the BUG REPRODUCED
// consequence and the seed.
func SinkConformance(t *testing.T, build connectors.SinkFactory) {
	t.Helper()
	for _, c := range conformance {
		t.Run(c.name, func(t *testing.T) { conform(t, backends.New(t), c.name, c.run, build) })
	}
}

// SinkConformanceIn runs the same scenarios one after another in e, which
// the caller opened: for a sink that needs the environment to start (a
// container next to the containers backend's, say). The scenarios use
// distinct topics, so they share the environment without seeing each other.
func SinkConformanceIn(t *testing.T, e env.Environment, build connectors.SinkFactory) {
	t.Helper()
	for _, c := range conformance {
		t.Run(c.name, func(t *testing.T) { conform(t, e, c.name, c.run, build) })
	}
}

func conform(t *testing.T, e env.Environment, name string, run func(sinkBuilder) func(context.Context, *harness.Run) error, build connectors.SinkFactory) {
	base, _ := Lookup(name)
	s := *base
	s.Run = run(userSink(build))
	seed, err := harness.Seed(name)
	if err != nil {
		t.Fatal(err)
	}
	out := harness.Execute(context.Background(), &s, harness.Fixed, e, seed, t.Logf)
	if out.Check != nil {
		t.Logf("ledger: %s", out.Check.Summary())
	}
	switch {
	case out.Skipped != "":
		t.Skipf("%s: %s", name, out.Skipped)
	case out.Error != "":
		t.Fatalf("%s could not run: %s", name, out.Error)
	case out.Verdict == checker.Unknown:
		t.Fatalf("%s is INCONCLUSIVE, it proves nothing: %s\nreplay: PIPECHAOS_SEED=%d", name, strings.Join(out.Inconclusive, "; "), out.Seed)
	case out.Failure != "":
		t.Fatalf("%s\nreplay: PIPECHAOS_SEED=%d", out.Failure, out.Seed)
	}
}
