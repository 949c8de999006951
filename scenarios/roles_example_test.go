package scenarios_test

// The roles other than the sink, each plugged in with an implementation
// written here, as a team would write its own — knowing nothing of the
// harness, using only franz-go and the role types of connectors — and
// each with a negative control the scenario must catch.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/connectors/autoscaler"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/scenarios"
)

// twoRegionProducer writes to the primary region and, when the primary
// does not acknowledge a record within its delivery timeout, writes the
// record to the secondary. reportSuccess is the defect of incident 5: the
// failure is swallowed and the caller told the record was sent.
type twoRegionProducer struct {
	primary, secondary *kgo.Client
	reportSuccess      bool
}

func newTwoRegionProducer(reportSuccess bool) connectors.ProducerFactory {
	return func(r connectors.Regions) (connectors.Producer, error) {
		opts := func(seeds []string) []kgo.Opt {
			return []kgo.Opt{
				kgo.SeedBrokers(seeds...),
				// A record in flight to a dead broker ends after a second
				// too; without this an idempotent client holds it until the
				// broker answers, and the producer stalls for the outage.
				kgo.RecordDeliveryTimeout(time.Second),
				kgo.AllowIdempotentProduceCancellation(),
				kgo.MetadataMinAge(100 * time.Millisecond),
				kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
				kgo.DialTimeout(time.Second),
			}
		}
		p, err := kgo.NewClient(opts(r.Primary)...)
		if err != nil {
			return nil, err
		}
		s, err := kgo.NewClient(opts(r.Secondary)...)
		if err != nil {
			p.Close()
			return nil, err
		}
		return &twoRegionProducer{primary: p, secondary: s, reportSuccess: reportSuccess}, nil
	}
}

func (p *twoRegionProducer) Produce(ctx context.Context, rec *kgo.Record, done func(connectors.Ack, error)) {
	p.primary.Produce(ctx, rec, func(r *kgo.Record, err error) {
		if err == nil {
			done(connectors.Ack{Region: "primary", Partition: r.Partition, Offset: r.Offset}, nil)
			return
		}
		if p.reportSuccess {
			done(connectors.Ack{Region: "primary", Partition: -1, Offset: -1}, nil)
			return
		}
		again := &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers}
		p.secondary.Produce(ctx, again, func(r *kgo.Record, serr error) {
			if serr != nil {
				done(connectors.Ack{}, fmt.Errorf("primary: %w; secondary: %w", err, serr))
				return
			}
			done(connectors.Ack{Region: "secondary", Partition: r.Partition, Offset: r.Offset}, nil)
		})
	})
}

func (p *twoRegionProducer) Flush(ctx context.Context) error {
	return errors.Join(p.primary.Flush(ctx), p.secondary.Flush(ctx))
}

func (p *twoRegionProducer) Close() {
	p.primary.Close()
	p.secondary.Close()
}

// TestProducerConformanceExample: region-outage with a failover producer
// written above. Every record it acknowledged must exist in a region.
func TestProducerConformanceExample(t *testing.T) {
	scenarios.ProducerConformance(t, newTwoRegionProducer(false))
}

// siteRouter routes records by their wm-site-id header: "US" under us/,
// another two-letter site under intl/, anything else under unrouted/.
// strict is the defect of incident 1: a header it cannot read is an error,
// which under errors.tolerance=none stops the sink.
func siteRouter(strict bool) connectors.TransformFactory {
	return func() (connectors.Transform, error) {
		return connectors.TransformFunc(func(r *kgo.Record) (connectors.Routed, error) {
			i := slices.IndexFunc(r.Headers, func(h kgo.RecordHeader) bool { return h.Key == "wm-site-id" })
			switch {
			case i >= 0 && string(r.Headers[i].Value) == "US":
				return connectors.Routed{Route: "us"}, nil
			case i >= 0 && len(r.Headers[i].Value) == 2:
				return connectors.Routed{Route: "intl"}, nil
			case strict:
				return connectors.Routed{}, fmt.Errorf("record %s/%d@%d: no readable wm-site-id header", r.Topic, r.Partition, r.Offset)
			}
			return connectors.Routed{Route: "unrouted"}, nil
		}), nil
	}
}

// TestTransformConformanceExample: null-headers with the router above in
// our sink's chain. Absent, null and malformed headers must neither stop
// the sink nor lose a record.
func TestTransformConformanceExample(t *testing.T) {
	scenarios.TransformConformance(t, siteRouter(false))
}

// fixedPool is a scaling policy that asks for a constant number of
// workers, as a team that sizes its pool by hand would.
type fixedPool int

func (n fixedPool) Desired(connectors.Signals) int { return int(n) }

// lagChaser scales on lag alone, one worker per threshold records behind:
// the policy of incident 3.
type lagChaser struct{ threshold int64 }

func (l lagChaser) Desired(s connectors.Signals) int {
	if s.Lag < 0 {
		return s.Workers
	}
	return int(s.Lag/l.threshold) + 1
}

// TestPolicyConformanceExample: rebalance-storm with a pool of two
// workers, cooperative rebalancing.
func TestPolicyConformanceExample(t *testing.T) {
	scenarios.PolicyConformance(t, func() connectors.Policy { return fixedPool(2) }, autoscaler.Cooperative)
}

// TestRoleNegativeControls: each role's scenario catches the incident's
// defect in an implementation written above, with the consequence the
// incident had.
func TestRoleNegativeControls(t *testing.T) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T) harness.Outcome
		want harness.Consequence
	}{
		{"producer-reports-success-on-failure", func(t *testing.T) harness.Outcome {
			return scenarios.RunProducerScenario(t, newTwoRegionProducer(true))
		}, harness.Lost},
		{"transform-fails-on-unreadable-header", func(t *testing.T) harness.Outcome {
			return scenarios.RunTransformScenario(t, siteRouter(true))
		}, harness.NotDrained},
		{"policy-chases-lag", func(t *testing.T) harness.Outcome {
			return scenarios.RunPolicyScenario(t, func() connectors.Policy { return lagChaser{threshold: 100} }, autoscaler.Eager)
		}, harness.Churn},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := c.run(t)
			if out.Error != "" || out.Skipped != "" || len(out.Inconclusive) > 0 {
				t.Fatalf("%s could not judge (seed %d): %s%s%v", out.Scenario, out.Seed, out.Error, out.Skipped, out.Inconclusive)
			}
			if !slices.Contains(out.Consequences, c.want) {
				t.Fatalf("%s was not caught as %s (seed %d): %q", c.name, c.want, out.Seed, out.Failure)
			}
			t.Logf("caught as %s, seed %d: %s", c.want, out.Seed, out.Failure)
		})
	}
}
