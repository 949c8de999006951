// Package workload generates the records of a run and produces them.
//
// A Generator is deterministic given its seed: record IDs are a dense
// sequence starting at 1, keys follow a distribution (uniform, zipf, one hot
// key), the wm-site-id header is present, absent, null or malformed at
// configured rates, and values are Avro in the Confluent wire format under a
// schema registered through the registry — possibly drifting to a new schema
// version mid-run. Run drives a Producer (a plain franz-go client, or the
// system under test such as a failover producer) and records every outcome
// in the history: acked, failed or indeterminate.
package workload
