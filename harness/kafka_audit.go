package harness

import (
	"context"
	"fmt"
	"maps"
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
	want, err := settledEnds(ctx, kadm.NewClient(cl), topic, r.Logf)
	if err != nil {
		return TopicAudit{}, fmt.Errorf("audit topic %s in %s: %w", topic, region, err)
	}
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

// auditSettle bounds how long an audit waits for a topic's partitions to
// have leaders, full in-sync replica sets and end offsets that stopped
// moving.
const auditSettle = 30 * time.Second

// settledEnds is the end offset of every partition of topic that holds
// records, once the region has settled. Read right after brokers restarted,
// a partition may have no leader yet (its end offset answers with an
// error), or a leader whose high watermark is still the one it
// checkpointed before the crash, below what its followers are about to
// confirm: read then, the audit would miss records the log keeps. So it
// waits, up to auditSettle, until every partition answers, every replica is
// in sync, and two reads 250 ms apart agree. A partition that never answers
// is an error, never an empty partition; a replica set that never fills
// (a broker that stays down) is logged, and the audit goes on with the
// offsets the leaders give.
func settledEnds(ctx context.Context, adm *kadm.Client, topic string, logf func(string, ...any)) (map[int32]int64, error) {
	deadline := time.Now().Add(auditSettle)
	var (
		prev    map[int32]int64
		lastErr error
		waited  string
	)
	for {
		ends, isrFull, err := endOffsets(ctx, adm, topic)
		switch {
		case err != nil:
			lastErr, waited = err, err.Error()
		case !isrFull:
			waited = "replicas out of sync: " + fmt.Sprint(ends)
		case prev != nil && maps.Equal(prev, ends):
			return ends, nil
		default:
			waited = "end offsets still moving"
		}
		if err == nil {
			prev = ends
		}
		if time.Now().After(deadline) {
			if err != nil || prev == nil {
				return nil, fmt.Errorf("partitions without an answer after %s: %w", auditSettle, lastErr)
			}
			logf("audit of %s: the topic did not settle within %s (%s); reading to the offsets its leaders give", topic, auditSettle, waited)
			return ends, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// endOffsets is one reading: the end offset of every partition with
// records, and whether every partition's replicas are all in sync.
func endOffsets(ctx context.Context, adm *kadm.Client, topic string) (map[int32]int64, bool, error) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	md, err := adm.Metadata(qctx, topic)
	if err != nil {
		return nil, false, fmt.Errorf("metadata: %w", err)
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return nil, false, fmt.Errorf("metadata of %s: %v", topic, td.Err)
	}
	isrFull := true
	for _, p := range td.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return nil, false, fmt.Errorf("partition %d has no leader (%v)", p.Partition, p.Err)
		}
		isrFull = isrFull && len(p.ISR) >= len(p.Replicas)
	}
	listed, err := adm.ListEndOffsets(qctx, topic)
	if err != nil {
		return nil, false, fmt.Errorf("list end offsets: %w", err)
	}
	ends := map[int32]int64{}
	var perr error
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			perr = fmt.Errorf("end offset of partition %d: %w", o.Partition, o.Err)
		} else if o.Offset > 0 {
			ends[o.Partition] = o.Offset
		}
	})
	if perr != nil {
		return nil, false, perr
	}
	if len(listed[topic]) < len(td.Partitions) {
		return nil, false, fmt.Errorf("end offsets for %d of %d partitions", len(listed[topic]), len(td.Partitions))
	}
	return ends, isrFull, nil
}
