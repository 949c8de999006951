package history

import (
	"encoding/binary"
	"time"
	"unsafe"
)

// eventSize is what one Event value costs in memory.
const eventSize = unsafe.Sizeof(Event{})

// compactProduce reports whether e is a produce outcome the produce log can
// hold losslessly: one that sets no field but those a produce outcome has.
func compactProduce(e Event) bool {
	return e.Type == Produce && e.Object == "" && e.Records == 0 && e.Bytes == 0 && e.Fault == "" &&
		e.Phase == "" && e.Target == "" && e.Metric == "" && e.Labels == nil && e.Value == 0 && e.Text == ""
}

// produceLog holds produce outcomes compactly: each is a handful of varints
// in append-only chunks, deltas against the outcome before it (sequence
// number, time in nanoseconds, record ID, offset within the partition) and
// indexes into intern tables (who, outcome, region, topic, error as one
// context; the key). A run of workload records costs about 10 bytes each
// instead of an Event's ~300.
type produceLog struct {
	chunks [][]byte
	n      int
	origin int64 // Unix nanoseconds the first time delta is taken against

	// Encoder state: the last values the deltas are taken against.
	enc deltaState

	ctxs   []produceCtx
	ctxIdx map[produceCtx]uint64
	keys   []string
	keyIdx map[string]uint64
}

// produceCtx is what many outcomes share: interned as one index.
type produceCtx struct {
	process, region, topic, err string
	outcome                     Outcome
}

type deltaState struct {
	seq     int64
	at      int64 // Unix nanoseconds
	id      uint64
	offsets []int64 // by partition, for partitions 0..maxDensePartition
	sparse  map[int32]int64
}

const (
	chunkSize         = 1 << 20
	maxDensePartition = 4096
)

func newProduceLog(start time.Time) produceLog {
	return produceLog{
		origin: start.UnixNano(),
		enc:    deltaState{seq: -1, at: start.UnixNano()},
		ctxIdx: map[produceCtx]uint64{},
		keyIdx: map[string]uint64{},
	}
}

func (s *deltaState) lastOffset(p int32) int64 {
	if p >= 0 && p < maxDensePartition {
		if int(p) < len(s.offsets) {
			return s.offsets[p]
		}
		return 0
	}
	return s.sparse[p]
}

func (s *deltaState) setOffset(p int32, off int64) {
	if p >= 0 && p < maxDensePartition {
		for int(p) >= len(s.offsets) {
			s.offsets = append(s.offsets, 0)
		}
		s.offsets[p] = off
		return
	}
	if s.sparse == nil {
		s.sparse = map[int32]int64{}
	}
	s.sparse[p] = off
}

func (l *produceLog) add(e Event) {
	c := produceCtx{process: e.Process, region: e.Region, topic: e.Topic, err: e.Err, outcome: e.Outcome}
	ci, ok := l.ctxIdx[c]
	if !ok {
		ci = uint64(len(l.ctxs))
		l.ctxs = append(l.ctxs, c)
		l.ctxIdx[c] = ci
	}
	ki, ok := l.keyIdx[e.Key]
	if !ok {
		ki = uint64(len(l.keys))
		l.keys = append(l.keys, e.Key)
		l.keyIdx[e.Key] = ki
	}
	var buf [8 * binary.MaxVarintLen64]byte
	b := buf[:0]
	b = binary.AppendUvarint(b, uint64(e.Seq-l.enc.seq))
	at := e.At.UnixNano()
	b = binary.AppendVarint(b, at-l.enc.at)
	b = binary.AppendUvarint(b, ci)
	b = binary.AppendVarint(b, int64(e.RecordID-l.enc.id))
	b = binary.AppendUvarint(b, ki)
	b = binary.AppendVarint(b, int64(e.Partition))
	b = binary.AppendVarint(b, e.Offset-l.enc.lastOffset(e.Partition))
	l.enc.seq, l.enc.at, l.enc.id = e.Seq, at, e.RecordID
	l.enc.setOffset(e.Partition, e.Offset)

	if len(l.chunks) == 0 || len(l.chunks[len(l.chunks)-1])+len(b) > cap(l.chunks[len(l.chunks)-1]) {
		l.chunks = append(l.chunks, make([]byte, 0, chunkSize))
	}
	last := len(l.chunks) - 1
	l.chunks[last] = append(l.chunks[last], b...)
	l.n++
}

func (l *produceLog) bytes() int64 {
	var n int64
	for _, c := range l.chunks {
		n += int64(cap(c))
	}
	for _, k := range l.keys {
		n += int64(len(k)) + 16 + 32 // the string, its header, its map entry
	}
	return n + int64(len(l.ctxs))*200
}

// produceSnapshot is a consistent view of the log: chunks are append-only,
// so their prefixes stay valid after the lock is released.
type produceSnapshot struct {
	chunks [][]byte
	n      int
	start  int64
	ctxs   []produceCtx
	keys   []string
}

func (l *produceLog) snapshot() produceSnapshot {
	return produceSnapshot{
		chunks: append([][]byte(nil), l.chunks...),
		n:      l.n,
		start:  l.startAt(),
		ctxs:   l.ctxs[:len(l.ctxs):len(l.ctxs)],
		keys:   l.keys[:len(l.keys):len(l.keys)],
	}
}

// startAt is the time the first delta is taken against: the history's start.
func (l *produceLog) startAt() int64 { return l.origin }

// each decodes the outcomes in order and calls fn with every every-th one
// (the first included) until fn returns false. The Event passed is reused.
func (s produceSnapshot) each(every int, fn func(*Event) bool) {
	st := deltaState{seq: -1, at: s.start}
	var e Event
	e.Type = Produce
	k := 0
	for _, c := range s.chunks {
		for len(c) > 0 {
			dseq, n1 := binary.Uvarint(c)
			c = c[n1:]
			dat, n2 := binary.Varint(c)
			c = c[n2:]
			ci, n3 := binary.Uvarint(c)
			c = c[n3:]
			did, n4 := binary.Varint(c)
			c = c[n4:]
			ki, n5 := binary.Uvarint(c)
			c = c[n5:]
			p, n6 := binary.Varint(c)
			c = c[n6:]
			doff, n7 := binary.Varint(c)
			c = c[n7:]
			st.seq += int64(dseq)
			st.at += dat
			st.id += uint64(did)
			part := int32(p)
			off := st.lastOffset(part) + doff
			st.setOffset(part, off)
			if k%every == 0 {
				ctx := s.ctxs[ci]
				e.Seq, e.At, e.RecordID, e.Partition, e.Offset = st.seq, time.Unix(0, st.at), st.id, part, off
				e.Process, e.Region, e.Topic, e.Err, e.Outcome = ctx.process, ctx.region, ctx.topic, ctx.err, ctx.outcome
				e.Key = s.keys[ki]
				if !fn(&e) {
					return
				}
			}
			k++
		}
	}
}
