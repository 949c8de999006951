// Package skew finds a hot key before it takes a pipeline down (incident 6:
// one tenant held most of the records, 99% of the tasks finished fast and
// one ran for hours until its executor died).
//
// The model, one concept per file:
//
//   - profile.go: Profile reads a sample of (key, partition) pairs and
//     reports the most frequent keys, the records per partition and the
//     largest-partition ratio (the largest partition's count over the mean
//     per partition: estimated from the sample, or exact from the partition
//     sizes a topic's offsets give, TopicSample.Profile). Against
//     Thresholds it gives a verdict; Report.Err is the fail-fast error,
//     wrapping ErrSkewed and naming the hot key.
//   - salt.go: Salt spreads a hot key over n sub-keys ("tenant-42#7"), and a
//     Plan says which keys a pipeline salts.
//   - kafka.go: SampleTopic samples a topic (the CLI's `skew profile`), and
//     Rekey is the shuffle stage of a pipeline: it copies a topic into
//     another, keyed by the Plan, so that the partitioner spreads the hot key.
//   - buggy.go: BuggyRekey, the shuffle as the incident's job had it: the
//     salted key is computed but the partitioner still hashes the raw key.
package skew
