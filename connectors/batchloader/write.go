package batchloader

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors"
)

// objectKey is the key of the object holding partition p's records from
// offset start on. It depends only on its arguments, so a rerun that loads
// the same offsets overwrites the same object instead of adding a copy
// (incident 9).
func objectKey(prefix, topic string, p int32, start int64) string {
	return fmt.Sprintf("%s/topics/%s/partition=%d/%s+%d+%d.jsonl", prefix, topic, p, topic, p, start)
}

// line is one loaded record: its pipechaos ID (from the pipechaos-id
// header; omitted if the record has none), its key, where it was in Kafka
// and its produce time in Unix milliseconds.
type line struct {
	ID        *uint64 `json:"id,omitempty"`
	Key       string  `json:"key"`
	Partition int32   `json:"partition"`
	Offset    int64   `json:"offset"`
	Timestamp int64   `json:"timestamp_ms"`
}

// writeObject writes one partition's records as JSON lines and returns the
// object's size.
func (j *Job) writeObject(ctx context.Context, p int32, start int64, recs []*kgo.Record) (int, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range recs {
		l := line{Key: string(r.Key), Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli()}
		if id, ok := recordID(r); ok {
			l.ID = &id
		}
		if err := enc.Encode(l); err != nil {
			return 0, fmt.Errorf("encode record %d/%d: %w", p, r.Offset, err)
		}
	}
	key := objectKey(j.cfg.Prefix, j.cfg.Topic, p, start)
	if err := j.put(ctx, key, buf.Bytes(), "application/x-ndjson"); err != nil {
		return 0, fmt.Errorf("write s3://%s/%s: %w", j.cfg.Bucket, key, err)
	}
	return buf.Len(), nil
}

// recordID is the unique ID the record carries in connectors.IDHeader, if
// any: the job copies it into its lines as it is.
func recordID(r *kgo.Record) (uint64, bool) {
	for _, h := range r.Headers {
		if h.Key == connectors.IDHeader {
			id, err := strconv.ParseUint(string(h.Value), 10, 64)
			return id, err == nil
		}
	}
	return 0, false
}
