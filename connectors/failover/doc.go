// Package failover is a dual-region Kafka producer, the system under test of
// incident 5 ("dual-region failover that dropped messages").
//
// A Producer holds one idempotent franz-go client per region. Every record
// goes to the primary region first. If the primary does not acknowledge it
// within a short, bounded delivery timeout (DeliveryTimeout, RecordRetries),
// the producer sends the same record to the secondary region and waits for
// that answer before it tells the caller anything: the caller's done
// callback sees the secondary's ack (Ack.Region says where the record
// landed), or, if the secondary fails too, an error wrapping ErrBothRegions.
// It never reports success for a record no region acknowledged.
//
// Failing over has a price that the producer counts rather than hides: a
// primary attempt that timed out while its request was in flight has an
// unknown outcome (the broker may have written it and the reply been lost),
// so a record acknowledged by the secondary after such an attempt may exist
// in both regions. Those are counted in
// pipechaos_failover_possible_duplicates_total, and a combined error whose
// primary half was indeterminate stays indeterminate (the producer reads
// errors by its own rule, notWritten, not by the harness's).
//
// One concept per file: config.go (Config, defaults, validate), producer.go
// (the two clients, the produce path and the failover), metrics.go
// (Prometheus metrics on the producer's own registry), buggy.go (the failure
// handler as it shipped in the incident).
package failover
