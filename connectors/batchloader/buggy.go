package batchloader

import (
	"context"
)

// NewBuggy returns the job as it ran before incident 8 ("the silent sync
// stop": success, but no data).
//
// The job learns which partitions to read from its bookmark file, not from
// the topic. The bookmark file is rewritten by every run for the partitions
// that run owned; a run that a Kafka rebalance interrupted owned all but one
// partition, so the file it wrote has no bookmark for that partition. From
// then on no run ever reads it again: each one loads the other partitions,
// finds "no new data to process" or a handful of records, and reports
// success — while the orphaned partition's records pile up in Kafka and
// never reach the bucket.
//
// The faulty line is marked in bookmarked below. The fix (New) lists the
// topic's partitions from its metadata on every run and resumes a
// partition without a bookmark from the group's committed offset; the
// freshness SLI pipeline_lag_seconds, which both variants export, is what
// tells "success but stopped" from "success".
func NewBuggy(cfg Config) (*Job, error) { return newJob(cfg, bookmarked) }

// bookmarked is the buggy plan.
func bookmarked(_ context.Context, j *Job, bm Bookmarks, exists bool, t topicState) (map[int32]int64, error) {
	from := map[int32]int64{}
	if !exists {
		// First run ever: start every partition from its earliest offset.
		for _, p := range t.partitions {
			from[p] = t.start[p]
		}
		return from, nil
	}
	for p, b := range bm.Partitions { // BUG: the bookmark file, not the topic, says which partitions exist
		from[p] = j.clamp(t, p, b.Offset, "bookmark")
	}
	return from, nil
}
