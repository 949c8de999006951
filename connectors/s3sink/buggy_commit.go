package s3sink

// NewCommitBeforeWrite builds the sink a team shipped before incidents 2, 9
// and 10 taught them the order of the two steps of a flush. It is the
// correct sink in every respect but one: it commits a chunk's offsets and
// only then writes the chunk's object (commitThenWrite, the line marked
// BUG below).
//
// On a quiet day nobody can tell: both steps succeed, every record lands
// once. The defect shows when anything comes between the two steps. A write
// that exhausts its retries against a store answering 503 SlowDown or 500
// (incident 10), a task killed mid-flush, a write slow enough for the
// member to be thrown out of the group (incident 2): the group has already
// moved past the chunk, so whoever consumes the partition next — the same
// task restarted, or another member — starts after records that are in no
// object. Nothing fails loudly about them; they are simply never written.
//
// The fix is writeThenCommit (write.go): make the object durable, then
// commit the offset after it; a rerun of uncommitted records overwrites the
// same deterministic object name (naming.go).
func NewCommitBeforeWrite(cfg Config) (*Sink, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	s.hooks.persist = s.commitThenWrite
	return s, nil
}

// commitThenWrite commits the offset after ch, then writes ch's objects.
func (s *Sink) commitThenWrite(ps *partition, seg *segment, ch chunk) error {
	// BUG: the commit comes first. If the write below fails (retries
	// exhausted, task killed), the committed offset already points past
	// records that were never written, and they are lost for good.
	if err := s.commit(ps, ch); err != nil {
		return err
	}
	return s.writeChunk(ps.ctx, ps.p, seg, ch)
}
