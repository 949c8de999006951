package skew

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TopicSample is a sample of a topic's records.
type TopicSample struct {
	Topic      string
	Partitions int
	// Records is how many records the topic held when it was sampled.
	Records int64
	// PerPartition is how many records each partition held.
	PerPartition []int64
	Samples      []Sample
}

// Profile profiles the sample, counting every partition of the topic. The
// largest partition and its ratio come from PerPartition (the sizes read
// from the offsets, exact), the key frequencies from the sample.
func (s TopicSample) Profile(th Thresholds) Report {
	if th.Partitions == 0 {
		th.Partitions = s.Partitions
	}
	return profile(slices.Values(s.Samples), th, s.PerPartition)
}

// SampleTopic samples about n records of topic: from each partition, the
// latest records in proportion to the partition's size, so the sample's
// partition counts follow the topic's and its keys are the freshest. A
// partition with records gives at least one sample; n ≥ the topic's size
// reads it all.
//
// cl must not be a group consumer (a plain client, as the CLI builds from
// the seed brokers): SampleTopic adds the topic's partitions to its direct
// consumer for the call and removes them before returning.
func SampleTopic(ctx context.Context, cl *kgo.Client, topic string, n int) (TopicSample, error) {
	if n <= 0 {
		return TopicSample{}, fmt.Errorf("sample topic %s: sample size must be positive, got %d", topic, n)
	}
	starts, ends, err := offsets(ctx, cl, topic)
	if err != nil {
		return TopicSample{}, fmt.Errorf("sample topic %s: %w", topic, err)
	}
	ts := TopicSample{Topic: topic, Partitions: len(ends), PerPartition: make([]int64, len(ends))}
	for p := range ends {
		ts.PerPartition[p] = ends[p] - starts[p]
		ts.Records += ts.PerPartition[p]
	}
	if ts.Records == 0 {
		return ts, nil
	}
	from := map[int32]int64{}
	for p, size := range ts.PerPartition {
		if size == 0 {
			continue
		}
		k := int64(math.Ceil(float64(n) * float64(size) / float64(ts.Records)))
		from[int32(p)] = ends[p] - min(k, size)
	}
	err = readRange(ctx, cl, topic, from, ends, func(r *kgo.Record) {
		ts.Samples = append(ts.Samples, Sample{Key: string(r.Key), Partition: r.Partition})
	})
	if err != nil {
		return ts, fmt.Errorf("sample topic %s: %w", topic, err)
	}
	return ts, nil
}

// Rekey is a pipeline's shuffle stage: it copies every record topic src held
// at the call into topic dst, keyed by plan (a hot key becomes one of its
// sub-keys; other keys stay as they are), so that cl's partitioner — which
// hashes the record key — spreads the hot key over dst's partitions. Values
// and headers are copied unchanged; the original key travels in the
// SaltHeader header of a salted record. Records of one key keep their order
// within each dst partition. It returns how many records were copied.
//
// cl must not be a group consumer (see SampleTopic).
func Rekey(ctx context.Context, cl *kgo.Client, src, dst string, plan Plan, rnd *rand.Rand) (int, error) {
	return copyTopic(ctx, cl, src, dst, func(in *kgo.Record) *kgo.Record {
		out := copyRecord(in, dst)
		if k := string(in.Key); plan.Keys[k] {
			out.Key = []byte(plan.Key(k, rnd))
			out.Headers = append(out.Headers, kgo.RecordHeader{Key: SaltHeader, Value: in.Key})
		}
		return out
	})
}

// SaltHeader carries the key a record had before it was salted.
const SaltHeader = "pipechaos-unsalted-key"

func copyRecord(in *kgo.Record, topic string) *kgo.Record {
	return &kgo.Record{
		Topic:   topic,
		Key:     in.Key,
		Value:   in.Value,
		Headers: append([]kgo.RecordHeader(nil), in.Headers...),
	}
}

// copyTopic copies src into dst through rekey.
func copyTopic(ctx context.Context, cl *kgo.Client, src, dst string, rekey func(*kgo.Record) *kgo.Record) (int, error) {
	starts, ends, err := offsets(ctx, cl, src)
	if err != nil {
		return 0, fmt.Errorf("rekey %s into %s: %w", src, dst, err)
	}
	from := map[int32]int64{}
	for p := range ends {
		if ends[p] > starts[p] {
			from[int32(p)] = starts[p]
		}
	}
	var (
		mu       sync.Mutex
		first    error
		copied   int
		produced int
	)
	err = readRange(ctx, cl, src, from, ends, func(in *kgo.Record) {
		produced++
		cl.Produce(ctx, rekey(in), func(_ *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			if err == nil {
				copied++
			}
		})
	})
	ferr := cl.Flush(ctx)
	mu.Lock()
	defer mu.Unlock()
	if err = errors.Join(err, first, ferr); err != nil {
		return copied, fmt.Errorf("rekey %s into %s: %d of %d records copied: %w", src, dst, copied, produced, err)
	}
	return copied, nil
}

// offsets lists the start and end offsets of every partition of topic,
// indexed by partition.
func offsets(ctx context.Context, cl *kgo.Client, topic string) (starts, ends []int64, err error) {
	adm := kadm.NewClient(cl)
	so, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = so.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, nil, fmt.Errorf("topic %q does not exist: %w", topic, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list start offsets: %w", err)
	}
	eo, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = eo.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list end offsets: %w", err)
	}
	n := 0
	eo.Each(func(o kadm.ListedOffset) { n = max(n, int(o.Partition)+1) })
	if n == 0 {
		return nil, nil, fmt.Errorf("topic %q does not exist or has no partitions", topic)
	}
	starts, ends = make([]int64, n), make([]int64, n)
	eo.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	so.Each(func(o kadm.ListedOffset) { starts[o.Partition] = o.Offset })
	return starts, ends, nil
}

// readRange reads partitions of topic from from[p] up to ends[p] (exclusive)
// and calls fn for each record, in partition order.
func readRange(ctx context.Context, cl *kgo.Client, topic string, from map[int32]int64, ends []int64, fn func(*kgo.Record)) error {
	if g, _ := cl.OptValue(kgo.ConsumerGroup).(string); g != "" {
		return fmt.Errorf("the client consumes as group %q: pass a plain client (no group)", g)
	}
	if len(from) == 0 {
		return nil
	}
	add := map[int32]kgo.Offset{}
	var parts []int32
	for p, o := range from {
		add[p] = kgo.NewOffset().At(o)
		parts = append(parts, p)
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: add})
	defer cl.RemoveConsumePartitions(map[string][]int32{topic: parts})

	left := len(from)
	done := map[int32]bool{}
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%d partitions not read to the end: %w", left, err)
		}
		if fs.IsClientClosed() {
			return kgo.ErrClientClosed
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if t == topic && ferr == nil {
				ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Topic != topic || done[r.Partition] || r.Offset >= ends[r.Partition] {
				return
			}
			fn(r)
			if r.Offset+1 >= ends[r.Partition] {
				done[r.Partition] = true
				left--
			}
		})
	}
	return nil
}
