package s3sink

import "math"

// NewCountOnly builds the sink of incident 4 ("heap exhaustion from huge
// batches") as it was first shipped: its buffers know only a record count.
//
// The workers were OOM-killed every 30–60 minutes. flush.size was
// 10,000,000 records, and a buffer was written only when it held that many
// records (or when the rotation interval passed): with records of tens of
// kilobytes, a single partition's buffer outgrew a 256–512 MB heap long
// before it reached its count. Nothing bounded the bytes held in memory.
//
// The faulty line is the one below that turns the byte budget off: the
// poll loop never waits for writes (overBudget never holds) and no buffer
// is ever flushed for its size in bytes, so what is buffered is whatever
// arrives within a rotation interval, however large. The fix (New) keeps
// FlushBytes: when a record would take the bytes buffered across every
// partition past it, the largest buffer is flushed, and the poll loop stops
// taking records until writes bring the total back under it.
func NewCountOnly(cfg Config) (*Sink, error) {
	cfg.FlushBytes = math.MaxInt64 // BUG: records are counted, bytes are not bounded
	return New(cfg)
}
