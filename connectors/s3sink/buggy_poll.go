package s3sink

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// NewBlockingPoll builds the sink of incident 2 ("poll timeout from slow
// writes"): its poll loop writes what it buffered to the store before it
// polls again.
//
// A batch took longer to write to object storage than the consumer was
// allowed between two polls. The member was kicked out of the group, its
// partitions moved to another member, which consumed them again from the
// last commit; the kicked member rejoined, which started another rebalance.
// Work was redone over and over and the lag grew.
//
// The faulty line is where the poll loop waits for the writes of the poll
// (awaitWrites, installed as the polled hook): with BlockRebalanceOnPoll a
// rebalance cannot proceed until the loop allows it, so a write slower than
// the rebalance timeout keeps the member from rejoining in time, and the
// group leader removes it. Like the Java loop it was copied from, a commit
// that fails because the group has moved on (CommitFailedException) is
// logged and the loop goes on; the records are consumed again by whoever
// owns the partition now. The fix (New, write.go) writes in a goroutine of
// its own: the poll loop keeps polling and allowing rebalances, and the byte
// budget, not the write, paces it.
func NewBlockingPoll(cfg Config) (*Sink, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	s.hooks.polled = s.awaitWrites // BUG: the poll loop blocks on store writes
	s.hooks.persist = s.writeThenCommitOnce
	return s, nil
}

// awaitWrites returns when no partition has a write in flight.
func (s *Sink) awaitWrites() {
	t := time.NewTicker(s.tick())
	defer t.Stop()
	for {
		s.mu.Lock()
		busy := false
		for _, ps := range s.parts {
			busy = busy || ps.inflight != nil
		}
		s.mu.Unlock()
		if !busy {
			return
		}
		select {
		case <-s.wake:
		case <-t.C:
		}
	}
}

// writeThenCommitOnce writes the chunk, then commits once; a failed commit
// is only logged.
func (s *Sink) writeThenCommitOnce(ps *partition, seg *segment, ch chunk) error {
	if err := s.writeChunk(ps.ctx, ps.p, seg, ch); err != nil {
		return err
	}
	next := ch.end + 1
	offsets := map[string]map[int32]kgo.EpochOffset{s.cfg.Topic: {ps.p: {Epoch: ch.epoch, Offset: next}}}
	if err := s.commitOnce(ps.ctx, offsets); err != nil {
		s.cfg.Logf("s3sink %s: commit partition %d offset %d failed, going on: %v", s.cfg.Process, ps.p, next, err)
		return nil
	}
	s.m.commits.Inc()
	s.mu.Lock()
	ps.committed = max(ps.committed, next)
	s.setLagLocked(ps)
	s.mu.Unlock()
	return nil
}
