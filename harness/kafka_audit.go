package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/harness/workload"
)

// TopicAudit is what a topic holds, read end to end.
type TopicAudit struct {
	Records    int
	Unique     int
	Duplicates int              // extra copies of an ID in the log
	IDs        map[uint64]int32 // ID → partition of its first copy
	PerPart    map[int32]int    // records per partition
	Keys       map[string]int   // records per key
}

// AuditTopic reads every record of topic in region, from the start to the
// end offsets at the time of the call, and counts IDs. It answers "what did
// Kafka actually keep", independent of any consumer group.
func (r *Run) AuditTopic(ctx context.Context, region, topic string) (TopicAudit, error) {
	reg := r.Env.Region(region)
	if reg == nil {
		return TopicAudit{}, fmt.Errorf("audit topic: unknown region %q", region)
	}
	cl, err := reg.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return TopicAudit{}, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return TopicAudit{}, fmt.Errorf("audit topic %s: list end offsets: %w", topic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	a := TopicAudit{IDs: map[uint64]int32{}, PerPart: map[int32]int{}, Keys: map[string]int{}}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return a, fmt.Errorf("audit topic %s: %d partitions not read to the end: %w", topic, len(want), ctx.Err())
		}
		fs.EachRecord(func(rec *kgo.Record) {
			a.Records++
			a.PerPart[rec.Partition]++
			a.Keys[string(rec.Key)]++
			if id, ok := workload.RecordID(rec); ok {
				if _, dup := a.IDs[id]; dup {
					a.Duplicates++
				} else {
					a.IDs[id] = rec.Partition
				}
			}
			if end, ok := want[rec.Partition]; ok && rec.Offset+1 >= end {
				delete(want, rec.Partition)
			}
		})
	}
	a.Unique = len(a.IDs)
	return a, nil
}
