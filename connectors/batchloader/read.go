package batchloader

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// read consumes each partition of work from its bookmark up to the end
// offset listed at the start of the run, with direct partition consumption
// (no group: the job keeps its own positions). Records at or past the end
// offset belong to the next run. A partition whose log has gaps (compacted
// or transactional topics) would never reach its end offset: the run then
// fails at RunTimeout, loudly, rather than skip what it could not see.
func (j *Job) read(ctx context.Context, work map[int32]span) (map[int32][]*kgo.Record, error) {
	out := map[int32][]*kgo.Record{}
	offsets := map[int32]kgo.Offset{}
	next := map[int32]int64{}
	for p, s := range work {
		if s.from < s.end {
			offsets[p] = kgo.NewOffset().At(s.from)
			next[p] = s.from
		}
	}
	if len(offsets) == 0 {
		return out, nil
	}
	cl, err := kgo.NewClient(j.kgoOpts(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{j.cfg.Topic: offsets}))...)
	if err != nil {
		return nil, fmt.Errorf("create kafka consumer: %w", err)
	}
	defer cl.Close()

	pending := len(offsets)
	var lastErr error
	for pending > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			short := map[int32]string{}
			for p, n := range next {
				if n < work[p].end {
					short[p] = fmt.Sprintf("%d of %d..%d", n, work[p].from, work[p].end)
				}
			}
			if lastErr != nil {
				err = fmt.Errorf("%w (last fetch error: %v)", err, lastErr)
			}
			return nil, fmt.Errorf("read %s: %w %v: %w", j.cfg.Topic, errShort, short, err)
		}
		fs.EachError(func(_ string, p int32, err error) {
			lastErr = fmt.Errorf("partition %d: %w", p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			p := r.Partition
			n, ok := next[p]
			if !ok || r.Offset < n || n >= work[p].end {
				return // redelivered, or this partition is done
			}
			if r.Offset >= work[p].end {
				return // produced after the run listed the end offsets
			}
			out[p] = append(out[p], r)
			next[p] = r.Offset + 1
			if next[p] >= work[p].end {
				pending--
			}
		})
	}
	return out, nil
}
