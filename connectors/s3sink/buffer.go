package s3sink

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// noSchema is the schema id of a segment that holds only bad records so far.
const noSchema = -1

// entry is one buffered record; bad, if set, is why it goes to the
// dead-letter object. (Entries are kept small: a buffer holds thousands.)
type entry struct {
	r   *kgo.Record
	bad *badRecord
}

// badRecord is why a record goes to the dead-letter object.
type badRecord struct {
	err error
	why string // the reason label: transform, wire, schema, avro
}

// segment is a run of consecutive offsets whose records share a route and a
// writer schema id. Filtered records extend it without being stored.
type segment struct {
	route    string
	schemaID int
	start    int64 // first offset
	end      int64 // last offset, inclusive
	entries  []entry
	epoch    int32 // leader epoch of the last record
}

// flight is a flush being written: the segments taken from a buffer.
type flight struct {
	segs  []*segment
	bytes int64
	recs  int
	last  int64 // last offset in the flight
	done  chan struct{}
}

// partition is the state of one assigned partition. It lives from the
// assignment to the revoke or loss; every field is guarded by Sink.mu.
type partition struct {
	p int32

	ctx    context.Context // canceled when the partition is lost
	cancel context.CancelFunc

	segs     []*segment // pending, oldest first
	bytes    int64      // pending bytes
	recs     int        // pending entries
	count    int        // pending offsets, filtered included
	openedAt time.Time  // when the first pending record arrived

	inflight *flight
	want     string // flush reason waiting for the in-flight write

	last      int64 // last offset accepted in this assignment; -1 before any
	first     int64 // first offset accepted in this assignment; -1 before any
	committed int64 // next offset committed by this sink; -1 unknown
	hwm       int64 // high watermark of the last fetch; -1 unknown
}

func newPartition(parent context.Context, p int32) *partition {
	ctx, cancel := context.WithCancel(parent)
	return &partition{p: p, ctx: ctx, cancel: cancel, last: -1, first: -1, committed: -1, hwm: -1}
}

// current is the newest pending segment, or nil.
func (ps *partition) current() *segment {
	if len(ps.segs) == 0 {
		return nil
	}
	return ps.segs[len(ps.segs)-1]
}

// pending reports whether offsets wait to be flushed.
func (ps *partition) pending() bool { return len(ps.segs) > 0 }

// lag is the high watermark minus the committed offset (or the first offset
// of this assignment, which is where the group's commit stood).
func (ps *partition) lag() int64 {
	if ps.hwm < 0 {
		return 0
	}
	base := ps.committed
	if base < 0 {
		base = ps.first
	}
	if base < 0 {
		return 0
	}
	return max(0, ps.hwm-base)
}

// recordSize is what a record costs the byte budget.
func recordSize(r *kgo.Record) int64 {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return int64(n)
}

// addLocked buffers one fetched record of an owned partition and flushes what
// that calls for. It returns false for a record at or before the last offset
// accepted (a redelivery within the same assignment).
func (s *Sink) addLocked(ps *partition, r *kgo.Record, now time.Time) bool {
	if r.Offset <= ps.last || s.failed() {
		return false
	}
	ps.last = r.Offset
	if ps.first < 0 {
		ps.first = r.Offset
	}
	s.m.consumed.Inc()

	e, schemaID := entry{r: r}, noSchema
	rt, err := applyTransforms(s.cfg.Transforms, r)
	switch {
	case err != nil && s.cfg.ErrorTolerance == ToleranceNone:
		s.m.transformErrs.Inc()
		s.failLocked(fmt.Errorf("transform failed on %s/%d@%d, and errors.tolerance=none stops the sink: %w", r.Topic, r.Partition, r.Offset, err))
		return false
	case err != nil:
		e.bad = &badRecord{err, "transform"}
		s.m.transformErrs.Inc()
		s.cfg.Logf("s3sink %s: transform failed on %s/%d@%d, sending it to the dead-letter object: %v", s.cfg.Process, r.Topic, r.Partition, r.Offset, err)
	case rt.Drop:
		s.m.filtered.Inc()
	default:
		id, err := parseWire(r.Value)
		if err != nil {
			e.bad = &badRecord{err, "wire"}
			s.m.decodeErrors.WithLabelValues("wire").Inc()
		} else {
			schemaID = id
		}
	}

	size := recordSize(r)
	if !rt.Drop && s.buffered+size > s.cfg.FlushBytes {
		s.flushLargestLocked()
	}

	seg := ps.current()
	good := e.bad == nil && !rt.Drop
	if seg != nil && good {
		switch {
		case seg.schemaID != noSchema && seg.route != rt.Route:
			s.flushLocked(ps, reasonRoute)
			seg = nil
		case seg.schemaID != noSchema && seg.schemaID != schemaID:
			s.flushLocked(ps, reasonSchema)
			seg = nil
		}
	}
	if seg == nil {
		seg = &segment{route: rt.Route, schemaID: noSchema, start: r.Offset}
		ps.segs = append(ps.segs, seg)
	}
	if good {
		seg.route = rt.Route
		seg.schemaID = schemaID
	}
	seg.end = r.Offset
	seg.epoch = r.LeaderEpoch
	if ps.count == 0 {
		ps.openedAt = now
	}
	ps.count++

	if !rt.Drop {
		seg.entries = append(seg.entries, e)
		ps.bytes += size
		ps.recs++
		s.buffered += size
		s.bufferedRecs++
	}
	if ps.count >= s.cfg.FlushSize {
		s.flushLocked(ps, reasonSize)
	}
	return true
}

// flushLargestLocked flushes the largest pending buffer not already being
// written, to keep the byte budget.
func (s *Sink) flushLargestLocked() {
	var big *partition
	for _, ps := range s.parts {
		if ps.inflight == nil && ps.recs > 0 && (big == nil || ps.bytes > big.bytes) {
			big = ps
		}
	}
	if big != nil {
		s.flushLocked(big, reasonBytes)
	}
}

// rotateLocked flushes buffers older than RotateInterval, and every buffer
// while a Flush or Drain waits.
func (s *Sink) rotateLocked(now time.Time) {
	drain := s.draining.Load() > 0
	for _, ps := range s.parts {
		switch {
		case !ps.pending():
		case drain:
			s.flushLocked(ps, reasonDrain)
		case now.Sub(ps.openedAt) >= s.cfg.RotateInterval:
			s.flushLocked(ps, reasonRotate)
		}
	}
}

// overBudget reports whether the poll loop must wait for writes to finish
// before it takes more records.
func (s *Sink) overBudgetLocked() bool { return s.buffered >= s.cfg.FlushBytes }

// flushLocked hands ps's pending segments to a writer goroutine. If a write
// of ps is in flight, the flush waits for it (a partition never has two
// uncommitted objects), remembered in ps.want.
func (s *Sink) flushLocked(ps *partition, reason string) {
	if !ps.pending() {
		return
	}
	if ps.inflight != nil {
		if ps.want == "" || reason == reasonRevoke {
			ps.want = reason
		}
		return
	}
	if s.stopped || s.failed() || ps.ctx.Err() != nil {
		return
	}
	fl := &flight{segs: ps.segs, bytes: ps.bytes, recs: ps.recs, last: ps.last, done: make(chan struct{})}
	ps.segs, ps.bytes, ps.recs, ps.count = nil, 0, 0, 0
	if ps.want != reasonRevoke {
		ps.want = ""
	}
	ps.inflight = fl
	s.m.flushes.WithLabelValues(reason).Inc()
	s.wg.Add(1)
	go s.write(ps, fl)
}

// dropLocked forgets ps's pending records: they were never committed and
// will be consumed again by whoever owns the partition next.
func (s *Sink) dropLocked(ps *partition) {
	s.buffered -= ps.bytes
	s.bufferedRecs -= ps.recs
	ps.segs, ps.bytes, ps.recs, ps.count = nil, 0, 0, 0
}
