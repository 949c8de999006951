package s3sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// chunk is the part of a segment that becomes one object: at most FlushSize
// records, offsets start..end inclusive (filtered records included).
type chunk struct {
	start, end int64
	epoch      int32
	entries    []entry
}

// chunks cuts seg into objects of at most FlushSize records. Each chunk
// starts right after the previous one ends, so the chunk after a commit
// starts at the committed offset.
func (s *Sink) chunks(seg *segment) []chunk {
	n := s.cfg.FlushSize
	if len(seg.entries) <= n {
		return []chunk{{start: seg.start, end: seg.end, epoch: seg.epoch, entries: seg.entries}}
	}
	var out []chunk
	start := seg.start
	for i := 0; i < len(seg.entries); i += n {
		j := min(i+n, len(seg.entries))
		last := seg.entries[j-1].r
		c := chunk{start: start, end: last.Offset, epoch: last.LeaderEpoch, entries: seg.entries[i:j]}
		if j == len(seg.entries) {
			c.end, c.epoch = seg.end, seg.epoch
		}
		out = append(out, c)
		start = c.end + 1
	}
	return out
}

// write is the goroutine of one flight: it writes and commits every chunk in
// order, then hands the partition the next flush it asked for.
func (s *Sink) write(ps *partition, fl *flight) {
	defer s.wg.Done()
	err := s.writeFlight(ps, fl)

	s.mu.Lock()
	ps.inflight = nil
	s.buffered -= fl.bytes
	s.bufferedRecs -= fl.recs
	s.m.bufferedBytes.Set(float64(s.buffered))
	s.m.bufferedRecs.Set(float64(s.bufferedRecs))
	s.progressedLocked()
	switch {
	case err == nil:
	case ps.ctx.Err() != nil:
		// Lost, revoked past its deadline, or the sink stopped: nothing was
		// committed past what was written; the rest is consumed again.
		s.cfg.Logf("s3sink %s: partition %d: write abandoned, its records will be consumed again: %v", s.cfg.Process, ps.p, err)
	default:
		s.failLocked(fmt.Errorf("partition %d: %w", ps.p, err))
	}
	switch {
	case ps.want != "" && ps.pending():
		s.flushLocked(ps, ps.want)
	case ps.want != reasonRevoke:
		ps.want = ""
	}
	s.mu.Unlock()
	close(fl.done)
	s.notify()
}

func (s *Sink) writeFlight(ps *partition, fl *flight) error {
	for _, seg := range fl.segs {
		for _, ch := range s.chunks(seg) {
			if err := s.hooks.persist(ps, seg, ch); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeThenCommit is the correct persist: write the chunk's objects, and
// only once the store said yes, commit the offset after the chunk.
func (s *Sink) writeThenCommit(ps *partition, seg *segment, ch chunk) error {
	if err := s.writeChunk(ps.ctx, ps.p, seg, ch); err != nil {
		return err
	}
	return s.commit(ps, ch)
}

// writeChunk checks the chunk's records against their writer schema and
// writes the Avro object, then the dead-letter object if any record was bad.
// A good record's bytes after the wire-format header are copied into the
// object as they are: they already are its Avro encoding.
func (s *Sink) writeChunk(ctx context.Context, p int32, seg *segment, ch chunk) error {
	var (
		c         *codec
		schemaErr error
	)
	if seg.schemaID != noSchema {
		got, err := s.lookupCodec(ctx, seg.schemaID)
		switch {
		case err == nil:
			c = got
		case errors.Is(err, errNoSchema):
			schemaErr = err
		default:
			return err
		}
	}

	var (
		obj *ocfBuilder
		bad []entry
	)
	if c != nil {
		size := 0
		for _, e := range ch.entries {
			if e.bad == nil {
				size += len(e.r.Value) - wireHeader
			}
		}
		obj = newOCFBuilder(c.schema, size)
	}
	for _, e := range ch.entries {
		if e.bad == nil && schemaErr != nil {
			e.bad = &badRecord{schemaErr, "schema"}
			s.m.decodeErrors.WithLabelValues("schema").Inc()
		}
		if e.bad == nil {
			body := e.r.Value[wireHeader:]
			if err := c.check(body); err != nil {
				e.bad = &badRecord{fmt.Errorf("decode Avro with schema id %d: %w", seg.schemaID, err), "avro"}
				s.m.decodeErrors.WithLabelValues("avro").Inc()
			} else {
				obj.add(body) // copied while it is still in the cache
			}
		}
		if e.bad != nil {
			bad = append(bad, e)
		}
	}

	if obj != nil && obj.count > 0 {
		data := obj.bytes()
		key := s.hooks.objectKey(seg.route, s.cfg.Topic, p, ch.start)
		if err := s.put(ctx, key, data, "application/avro"); err != nil {
			return err
		}
		s.wrote(key, obj.count, int64(len(data)))
		s.m.written.Add(float64(obj.count))
	}
	if len(bad) > 0 {
		data, err := encodeDeadLetters(bad)
		if err != nil {
			return fmt.Errorf("encode dead letters: %w", err)
		}
		key := deadLetterKey(s.cfg.Topic, p, ch.start)
		if err := s.put(ctx, key, data, "application/x-ndjson"); err != nil {
			return err
		}
		s.wrote(key, len(bad), int64(len(data)))
		s.m.deadLetters.Add(float64(len(bad)))
		s.cfg.Logf("s3sink %s: %d undecodable records of partition %d written to %s", s.cfg.Process, len(bad), p, key)
	}
	return nil
}

// wrote accounts for one object durably written.
func (s *Sink) wrote(key string, records int, n int64) {
	s.m.objects.Inc()
	s.m.bytesWritten.Add(float64(n))
	s.m.lastWriteEpoch.Set(float64(time.Now().UnixNano()) / 1e9)
}

// lookupCodec resolves a schema id, retrying registry errors under the
// retry policy. An error wrapping errNoSchema means the id is unusable.
func (s *Sink) lookupCodec(ctx context.Context, id int) (*codec, error) {
	var c *codec
	err := s.retry.do(ctx, "look up schema id "+strconv.Itoa(id), func(ctx context.Context) error {
		var err error
		c, err = s.hooks.codec(ctx, id)
		return err
	}, func(err error) bool { return errors.Is(err, errNoSchema) }, func(attempt int, err error) {
		s.m.retries.WithLabelValues("registry").Inc()
		s.m.retryBudget.Set(float64(s.retry.left()))
		s.cfg.Logf("s3sink %s: schema lookup retry %d: %v", s.cfg.Process, attempt+1, err)
	})
	return c, err
}

// put writes one object, retrying under the retry policy.
func (s *Sink) put(ctx context.Context, key string, data []byte, contentType string) error {
	return s.retry.do(ctx, "put "+key, func(ctx context.Context) error {
		_, err := s.store.PutObject(ctx, s.cfg.Bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
			ContentType: contentType,
			// gofakes3 (and any server without aws-chunked support) stores
			// the chunk signatures of a streaming-signed upload as data.
			DisableContentSha256: true,
		})
		if resp := minio.ToErrorResponse(err); err != nil && resp.Code != "" {
			return fmt.Errorf("%s (HTTP %d): %w", resp.Code, resp.StatusCode, err)
		}
		return err
	}, permanentS3, func(attempt int, err error) {
		s.m.retries.WithLabelValues("put").Inc()
		s.m.retryBudget.Set(float64(s.retry.left()))
		s.cfg.Logf("s3sink %s: put %s retry %d: %v", s.cfg.Process, key, attempt+1, err)
	})
}

// permanentS3 reports store errors no retry can fix.
func permanentS3(err error) bool {
	switch minio.ToErrorResponse(err).Code {
	case "AccessDenied", "NoSuchBucket", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidBucketName":
		return true
	}
	return false
}

// commit commits the offset after ch, retrying until it sticks or the
// partition is given up (its context canceled). Commits are not charged to
// the retry budget: they cost nothing in the store, and giving up on one
// would only redo work.
func (s *Sink) commit(ps *partition, ch chunk) error {
	next := ch.end + 1
	offsets := map[string]map[int32]kgo.EpochOffset{s.cfg.Topic: {ps.p: {Epoch: ch.epoch, Offset: next}}}
	for attempt := 0; ; attempt++ {
		err := s.commitOnce(ps.ctx, offsets)
		if err == nil {
			s.m.commits.Inc()
			s.mu.Lock()
			ps.committed = max(ps.committed, next)
			s.setLagLocked(ps)
			s.mu.Unlock()
			return nil
		}
		if ps.ctx.Err() != nil {
			return fmt.Errorf("commit partition %d offset %d: %w", ps.p, next, ps.ctx.Err())
		}
		s.m.retries.WithLabelValues("commit").Inc()
		s.cfg.Logf("s3sink %s: commit partition %d offset %d failed, retrying: %v", s.cfg.Process, ps.p, next, err)
		if err := sleepCtx(ps.ctx, s.retry.backoff(min(attempt, 8))); err != nil {
			return fmt.Errorf("commit partition %d offset %d: %w", ps.p, next, err)
		}
	}
}

// commitOnce commits offsets synchronously and reports any partition error.
func (s *Sink) commitOnce(ctx context.Context, offsets map[string]map[int32]kgo.EpochOffset) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SessionTimeout)
	defer cancel()
	var rerr error
	s.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			rerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					rerr = err
					return
				}
			}
		}
	})
	return rerr
}

// deadLetter is one line of a dead-letter object. Byte fields are base64
// (encoding/json's encoding of []byte).
type deadLetter struct {
	Topic     string             `json:"topic"`
	Partition int32              `json:"partition"`
	Offset    int64              `json:"offset"`
	Timestamp time.Time          `json:"timestamp"`
	Key       []byte             `json:"key"`
	Value     []byte             `json:"value"`
	Headers   []deadLetterHeader `json:"headers,omitempty"`
	Reason    string             `json:"reason"`
	Error     string             `json:"error"`
}

type deadLetterHeader struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

func encodeDeadLetters(bad []entry) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, e := range bad {
		dl := deadLetter{Topic: e.r.Topic, Partition: e.r.Partition, Offset: e.r.Offset, Timestamp: e.r.Timestamp,
			Key: e.r.Key, Value: e.r.Value, Reason: e.bad.why, Error: e.bad.err.Error()}
		for _, h := range e.r.Headers {
			dl.Headers = append(dl.Headers, deadLetterHeader{Key: h.Key, Value: h.Value})
		}
		if err := enc.Encode(dl); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}
