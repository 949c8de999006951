package scenarios

import (
	"context"
	"testing"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env/backends"
)

// SinkConformance proves a user's own Kafka→S3 sink with the sink-agnostic
// scenarios of the catalogue — the baseline and a broker crash — on the
// backend PIPECHAOS_BACKEND selects. The sink gets addresses only; it must
// write objects under topics/<topic>/ whose records carry the workload's
// "id" and "key" fields (Avro OCF with the writer schema, or JSON lines) and
// commit offsets only after its objects are durable. Each scenario is a
// subtest; a failure carries the BUG REPRODUCED consequence and the seed.
func SinkConformance(t *testing.T, build connectors.SinkFactory) {
	t.Helper()
	for _, c := range []struct {
		name string
		run  func(sinkBuilder) func(context.Context, *harness.Run) error
	}{
		{"baseline", baseline},
		{"broker-crash", brokerCrash},
	} {
		t.Run(c.name, func(t *testing.T) {
			base, _ := Lookup(c.name)
			s := *base
			s.Run = c.run(userSink(build))
			seed, err := harness.Seed(c.name)
			if err != nil {
				t.Fatal(err)
			}
			out := harness.Execute(context.Background(), &s, harness.Fixed, backends.New(t), seed, t.Logf)
			switch {
			case out.Skipped != "":
				t.Skipf("%s: %s", c.name, out.Skipped)
			case out.Error != "":
				t.Fatalf("%s could not run: %s", c.name, out.Error)
			case out.Failure != "":
				t.Fatalf("%s\nreplay: PIPECHAOS_SEED=%d", out.Failure, out.Seed)
			}
			if out.Check != nil {
				t.Logf("ledger: %s", out.Check.Summary())
			}
		})
	}
}
