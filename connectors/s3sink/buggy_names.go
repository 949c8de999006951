package s3sink

import (
	"fmt"
	"time"
)

// NewTimestampNames builds the sink of incident 9, "duplicates after a
// rerun". Its team did not want a write ever to replace an object (a
// downstream job that listed the bucket had been confused by objects
// changing under it), so they made every object name unique by appending
// the time of the write: <topic>+<p>+<startOffset>-<unix nanos>.avro
// (timestampKey, the line marked BUG below). Offsets are zero-padded, as
// Kafka Connect's S3 sink does, so names still sort in offset order.
//
// It is correct as long as every chunk is written once. But a sink is
// at-least-once by construction: a chunk written and not yet committed when
// the task dies (a crash, a kill, a commit that fails) is consumed again by
// the restarted task from the committed offset, and written again — under a
// new name, next to the first copy. Every job downstream then counts those
// records twice, and every job is green.
//
// The fix is a deterministic name (objectKey in naming.go): the same
// offsets always get the same key, so a rerun overwrites its earlier,
// uncommitted output instead of adding to it (idempotent writes).
func NewTimestampNames(cfg Config) (*Sink, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	s.hooks.objectKey = timestampKey
	return s, nil
}

// timestampKey names the object of the chunk of partition p that starts at
// start, made unique by the wall clock.
func timestampKey(route, topic string, p int32, start int64) string {
	// BUG: the name depends on when the chunk is written, not only on what
	// it holds: writing the same offsets again adds a second object.
	key := fmt.Sprintf("topics/%s/partition=%d/%s+%d+%010d-%d.avro", topic, p, topic, p, start, time.Now().UnixNano())
	if route != "" {
		key = route + "/" + key
	}
	return key
}
