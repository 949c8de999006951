// Package s3sink is the correct Kafka→S3 sink, in the spirit of Kafka
// Connect's S3/GCS sink connectors: a consumer-group member that buffers the
// records of each assigned partition, writes them as Avro object container
// files (OCF) to an S3 bucket, and commits a partition's offset only after the
// object holding those records was durably written.
//
// The model, one concept per file:
//
//   - config.go: Config, its defaults and the one validate().
//   - buffer.go: a partition's buffer is a list of segments; a segment holds
//     records that share a route and a writer schema id. A buffer is flushed
//     on FlushSize records, on the byte budget FlushBytes (shared by every
//     partition: the largest buffer goes first), every RotateInterval, when
//     the schema id or the route changes, and before a partition is revoked.
//   - write.go: a flush is written by its own goroutine, never by the poll
//     loop, so a slow store cannot hold the group hostage (incident 2). Each
//     chunk of at most FlushSize records becomes one object, and the offset
//     after it is committed before the next chunk of that partition is
//     written: a partition never has more than one written-but-uncommitted
//     object, so whoever consumes from the committed offset again rebuilds
//     an object with the same name and overwrites it — no duplicates after a
//     rerun, a crash or a lost partition (incident 9).
//   - naming.go: object keys are deterministic:
//     [<route>/]topics/<topic>/partition=<p>/<topic>+<p>+<startOffset>.avro,
//     dead letters at dlq/topics/<topic>/partition=<p>/<topic>+<p>+<startOffset>.json
//     (one JSON line per undecodable record of the chunk that starts at
//     startOffset: raw key, value and headers in base64, and the error).
//   - transform.go: the Transform chain (header filters, routing).
//   - registry.go: writer schemas fetched by the wire-format schema id, cached.
//   - avro.go: a record's bytes after the wire-format header already are its
//     Avro encoding, so they are checked against the writer schema (a walk
//     that builds no value; bytes left over or missing make a dead letter)
//     and copied into the object as they are, never decoded and re-encoded.
//   - retry.go: exponential backoff with seeded jitter, and the retry budget
//     for the whole run; when it is spent, Run fails loudly instead of
//     committing (incident 10).
//   - metrics.go: Prometheus metrics on a per-sink registry.
//
// A record that cannot be decoded (not the wire format, unknown schema id,
// Avro that does not match its schema, a failing transform) is never dropped
// silently and never stops the pipeline: it is counted and written to the
// dead-letter object of its chunk before the chunk's offset is committed.
// The one exception is asked for: with Config.ErrorTolerance "none", a
// failing transform fails the sink, as errors.tolerance=none does.
package s3sink
