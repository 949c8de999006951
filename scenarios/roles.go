package scenarios

// The roles other than the sink, in one place: a user's producer
// (region-outage), transform (null-headers), scaling policy
// (rebalance-storm) and batch job (silent-stop) replace ours for a run, and are judged by the same
// checks, from outside: the regions' logs, the bucket, the coordinator.

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/connectors/autoscaler"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/backends"
)

// userRoles are the user's systems under test of a run, other than a
// sink; a nil field means ours.
type userRoles struct {
	label       string
	producer    connectors.ProducerFactory
	transform   connectors.TransformFactory
	policy      connectors.PolicyFactory
	rebalancing autoscaler.Rebalancing
	job         connectors.JobFactory
}

func rolesOf(r *harness.Run) *userRoles {
	if st, ok := runs.Load(r); ok {
		return st.(*runState).roles
	}
	return nil
}

// ProducerConformance proves a user's producer — a dual-region failover
// producer, say — with region-outage: the primary region goes down for up
// to 4 s mid-stream, then both regions go down together. It passes if
// every record the producer acknowledged exists in the primary or the
// secondary region (read from the regions' logs, not from the producer's
// acks) and reached the bucket through one sink per region, and if no
// record was acknowledged while both regions were down.
//
// The producer must call done exactly once per record, within a few
// seconds (a record it could not deliver anywhere ends with an error);
// see connectors.ProducerFactory.
func ProducerConformance(t *testing.T, factory connectors.ProducerFactory) {
	t.Helper()
	conformRole(t, "region-outage", &userRoles{label: "the producer of " + t.Name(), producer: factory})
}

// RunProducerScenario runs region-outage with the user's producer and
// returns the outcome without judging it: for tests that expect a
// producer to be caught.
func RunProducerScenario(t *testing.T, factory connectors.ProducerFactory) harness.Outcome {
	t.Helper()
	return runRole(t, backends.New(t), "region-outage", &userRoles{label: "the producer of " + t.Name(), producer: factory})
}

// TransformConformance proves a user's transform — a header router, a
// filter — with null-headers: records whose routing header is absent
// (2%), null (2%) or malformed (1%) reach our S3 sink, which runs the
// transform in its chain under errors.tolerance=none. It passes if the
// sink never stops (lag back to zero, objects written until the end) and
// every acked record is in the bucket exactly once, under whatever route
// the transform chose. A transform that drops a record loses it.
func TransformConformance(t *testing.T, factory connectors.TransformFactory) {
	t.Helper()
	conformRole(t, "null-headers", &userRoles{label: "the transform of " + t.Name(), transform: factory})
}

// RunTransformScenario runs null-headers with the user's transform and
// returns the outcome without judging it.
func RunTransformScenario(t *testing.T, factory connectors.TransformFactory) harness.Outcome {
	t.Helper()
	return runRole(t, backends.New(t), "null-headers", &userRoles{label: "the transform of " + t.Name(), transform: factory})
}

// PolicyConformance proves a user's scaling policy with rebalance-storm:
// a pool of our S3 sink workers (1 to 5, evaluated every 100 ms, with the
// given rebalancing protocol) scaled by the policy through a traffic
// spike while every store PUT takes 100 ms. It passes with no record
// lost, at most 3 partition revocations (counted by the coordinator),
// lag back under 200 records within 1 s of the spike's end, and the
// bucket receiving writes throughout the spike.
func PolicyConformance(t *testing.T, factory connectors.PolicyFactory, rebalancing autoscaler.Rebalancing) {
	t.Helper()
	conformRole(t, "rebalance-storm", &userRoles{label: "the policy of " + t.Name(), policy: factory, rebalancing: rebalancing})
}

// RunPolicyScenario runs rebalance-storm with the user's policy and
// returns the outcome without judging it.
func RunPolicyScenario(t *testing.T, factory connectors.PolicyFactory, rebalancing autoscaler.Rebalancing) harness.Outcome {
	t.Helper()
	return runRole(t, backends.New(t), "rebalance-storm", &userRoles{label: "the policy of " + t.Name(), policy: factory, rebalancing: rebalancing})
}

// JobConformance proves a user's incremental batch job with silent-stop:
// the harness runs the job every 200 ms while records arrive at a steady
// rate on a five-partition topic, and after the third run a rebalance
// (JobAddresses.Assign) takes one seeded partition away from the next run.
// It passes if, after a final run, every acked record is in the bucket
// under JobAddresses.Prefix exactly once and every partition's freshness —
// measured by the harness from the producer's acks, the store's write log
// and the records each object holds — stays within 1 s. What the job's
// runs report (success or failure) is shown, never judged.
func JobConformance(t *testing.T, factory connectors.JobFactory) {
	t.Helper()
	conformRole(t, "silent-stop", &userRoles{label: "the batch job of " + t.Name(), job: factory})
}

// RunJobScenario runs silent-stop with the user's batch job and returns
// the outcome without judging it.
func RunJobScenario(t *testing.T, factory connectors.JobFactory) harness.Outcome {
	t.Helper()
	return runRole(t, backends.New(t), "silent-stop", &userRoles{label: "the batch job of " + t.Name(), job: factory})
}

func conformRole(t *testing.T, name string, u *userRoles) {
	t.Helper()
	judgeUser(t, name, runRole(t, backends.New(t), name, u), "")
}

func runRole(t *testing.T, e env.Environment, name string, u *userRoles) harness.Outcome {
	t.Helper()
	out := executeFixed(t, e, name, func(base *harness.Scenario) *harness.Scenario {
		s := *base
		s.Variants = []harness.Variant{harness.Fixed}
		s.Run = func(ctx context.Context, r *harness.Run) error {
			stateOf(r).roles = u
			r.Logf("system under test: %s", u.label)
			return base.Run(ctx, r)
		}
		return &s
	})
	if out.Check != nil {
		t.Logf("ledger: %s", out.Check.Summary())
	}
	return out
}

// whose names the system under test in the narrative: the variant of
// ours, or the user's.
func whose(r *harness.Run) string {
	if rolesOf(r) != nil {
		return "user's"
	}
	return string(r.Variant)
}

// closeProducer closes a producer that has a Close method.
func closeProducer(p connectors.Producer) {
	switch c := p.(type) {
	case interface{ Close() }:
		c.Close()
	case interface{ Close() error }:
		_ = c.Close()
	}
}

// producerMetrics is a producer's own registry, if it has one (ours do):
// shown in the report, never judged.
func producerMetrics(p connectors.Producer) prometheus.Gatherer {
	if m, ok := p.(interface{ Metrics() *prometheus.Registry }); ok {
		return m.Metrics()
	}
	return prometheus.NewRegistry()
}

// userProducer builds the user's producer of region-outage, or nil.
func userProducer(r *harness.Run) (connectors.Producer, error) {
	u := rolesOf(r)
	if u == nil || u.producer == nil {
		return nil, nil
	}
	p, err := u.producer(connectors.Regions{
		Primary:   r.Env.Region(env.Primary).Bootstrap(),
		Secondary: r.Env.Region(env.Secondary).Bootstrap(),
	})
	if err != nil {
		return nil, fmt.Errorf("the user's producer could not be built: %w", err)
	}
	if p == nil {
		return nil, errors.New("the user's producer factory returned no producer and no error")
	}
	return p, nil
}

// budgeted gives a scenario more time on real Kafka (the nodes backend,
// or the containers backend with an Apache Kafka image), where a broker
// restart, a region start or a group join takes seconds to tens of seconds
// on a loaded machine instead of kfake's milliseconds, and a sink writing
// to MinIO on disk more time to drain. The containers backend stretches
// the scenario's budget itself (BudgetScale); here only the drain waits.
func budgeted(s *harness.Scenario, e env.Environment) *harness.Scenario {
	if _, real := e.Region(env.Primary).(env.Replicated); !real {
		return s
	}
	if drainTimeout != 30*time.Second { // written once, before any scenario reads it
		drainTimeout = 30 * time.Second
	}
	if e.Backend() != env.Nodes {
		return s
	}
	c := *s
	c.Budget = 10 * max(c.Budget, 30*time.Second)
	return &c
}
