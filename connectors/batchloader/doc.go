// Package batchloader is an incremental batch job of the kind that stopped
// silently in incident 8: each run loads what a Kafka topic gained since
// the last successful run into an S3 bucket, then moves its bookmarks.
//
// The model, one concept per file:
//
//   - config.go: Config, its defaults and the one validate().
//   - bookmarks.go: the job's durable state, one JSON object in the bucket
//     (bookmarks/<job>.json by default): per partition, the next offset to
//     load and when the partition was last complete. A run rewrites it for
//     the partitions it owned (Config.Assignment), so a rerun or another
//     process starts where the last successful run stopped.
//   - job.go: RunOnce: read the bookmarks; list the topic's partitions and
//     their earliest and end offsets from Kafka; plan where each partition
//     resumes; read each owned partition up to the end offset listed at the
//     start of the run; write one object per partition with new records;
//     only after every object was written, store the bookmarks (and commit
//     them to Config.Group). A run that fails anywhere leaves the bookmarks
//     where they were, and the next run rewrites the same objects.
//   - reconcile.go: the fixed plan — the topic's metadata, not the bookmark
//     file, says which partitions exist; a partition without a bookmark
//     resumes from the group's committed offset, else from its earliest
//     offset.
//   - buggy.go: the incident's plan — only the partitions in the bookmark
//     file are read, so a partition a rebalance-interrupted run left out of
//     the file is never read again while every run reports success.
//   - read.go: direct partition consumption (kgo.ConsumePartitions, no
//     group) from the bookmarks to the listed end offsets.
//   - write.go: objects are JSON lines {"id","key","partition","offset",
//     "timestamp_ms"} named deterministically, Kafka Connect style:
//     <prefix>/topics/<topic>/partition=<p>/<topic>+<p>+<startOffset>.jsonl.
//   - freshness.go: the SLI pipeline_lag_seconds{partition}: now minus the
//     latest moment as of which every record of the partition was in the
//     bucket — an upper bound on the age of the oldest unloaded record,
//     computed for every partition of the topic, at scrape time.
//   - metrics.go: Prometheus metrics on the job's own registry.
package batchloader
