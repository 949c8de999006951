// Package explore searches the fault space of a pipeline from one seed,
// shrinks a failing fault schedule to a minimal one, and writes it as a
// regression file a replay (or one line in a test) runs again.
//
// A Schedule is a workload (records, partitions, rate) and a short list of
// Steps. Each step is one fault the backend supports (a broker crash, an
// isolated broker, a region outage, store 503/500/hang/latency, a registry
// outage, Kafka protocol errors, slowed commits, the sink killed, paused or
// restarted, a member joining the group) with a Trigger tied to a pipeline
// phase — after N acks, while a PUT is in flight, between a PUT and its
// commit, between a commit and its PUT, during a rebalance, during the
// drain — and a hold after which it heals.
//
// Generation is two-phase, like FoundationDB's fault points: the seed first
// decides which fault kinds are switched on for a run, then when each step
// fires. Phases are detected from what the harness observes from outside the
// sink: the store's HTTP requests (a tap in front of the store sees every PUT
// start and return), the group's committed offsets and state at the
// coordinator, and the produce history.
//
// Each run has a safety phase (the workload and the faults) and a liveness
// phase (everything healed: the group must drain). Its verdict comes from
// the checker reading the bucket: Illegal with a consequence class (lost,
// duplicated, reordered, unexpected, corrupt, stale, not drained), Ok, or
// Unknown — the checker could not read everything, nothing was acked, or
// no fault met the data. Unknown is counted as such, never as a pass.
//
// The system under test runs behind SUT (Start, Kill, Pause, Resume,
// Restart). InProcess runs a connectors.SinkFactory in this process: a kill
// is an abrupt Close without flush or commit — what kill -9 does to the
// data — and pause is unsupported there; a process-backed SUT does both.
package explore
