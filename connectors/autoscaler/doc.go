// Package autoscaler sets how many sink workers consume a topic, and applies
// it. A worker is one s3sink.Sink, a member of one consumer group; adding or
// removing a worker changes the group's membership, and every membership
// change is a rebalance: members give partitions up (flushing and committing
// what they buffered), the group agrees on a new assignment, and only then
// does consumption resume. Scaling a consumer group is never free.
//
// The model, one concept per file:
//
//   - policy.go: Signals (lag, workers, consumption rate, now) and the Policy
//     interface, Desired(Signals) int; Throughput, the correct policy: it
//     scales on the sustained consumption rate per worker, with hysteresis
//     (a dead band between the scale-up and scale-down rates) and a cooldown
//     after every change, and never on lag.
//   - buggy.go: Lag, the policy of incident 3 (KEDA on consumer lag): lag
//     rises because scaling stops consumption, so it scales again.
//   - pool.go: Pool runs workers from addresses alone (brokers, registry URL,
//     S3 endpoint), evaluates its Policy every Interval and starts or stops
//     workers to match; Rebalancing chooses the group protocol (eager,
//     cooperative-sticky, or the broker-side KIP-848 protocol).
//   - metrics.go: Prometheus metrics on the pool's own registry: workers,
//     scale events, the signals as the policy saw them, and the rebalances
//     the workers lived through (summed from each sink's own metrics).
package autoscaler
