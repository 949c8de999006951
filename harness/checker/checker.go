// Package checker decides whether a run lost data. It follows Jepsen's
// total-queue checker: every produce attempt is in a Ledger (attempted,
// acked, failed, indeterminate); after a full drain every record found in
// the object store is fed to a Checker; the Result lists lost (acked, never
// found), unexpected (found, never attempted), duplicated (found more than
// once), reordered (out of produce order for its key within a partition),
// indeterminate outcomes (found or not) and corrupt objects. The verdict is
// Ok only if nothing was lost, nothing unexpected, no object was corrupt and
// at least one record was found: an empty store is never Ok.
//
// This file is the whole API; ledger.go holds the ledger, check.go the
// algorithm, store.go the object-store reader and decoders.
package checker

import (
	"errors"
	"fmt"
	"strings"
)

// Verdict is three-valued, as in porcupine.
type Verdict string

const (
	Ok      Verdict = "ok"
	Illegal Verdict = "illegal"
	Unknown Verdict = "unknown"
)

// Violation kinds.
const (
	Lost          = "lost"
	Unexpected    = "unexpected"
	Duplicated    = "duplicated"
	Reordered     = "reordered"
	Indeterminate = "indeterminate"
	Corrupt       = "corrupt"
	Empty         = "empty"
	// Recovered: records the producer was told failed were found anyway.
	// Allowed (a failed produce may have reached the log), but reported.
	Recovered = "recovered"
	// Incomplete: the store could not be read completely; the verdict is
	// Unknown unless a definite violation was found in what was read.
	Incomplete = "incomplete"
	// TooManyCopies: records found more often than MaxRecordCopies allows.
	TooManyCopies = "too-many-copies"
)

// Found is one record read back from the store.
type Found struct {
	ID        uint64 `json:"id"`
	Key       string `json:"key"`
	Partition int32  `json:"partition"`
	Object    string `json:"object,omitempty"`
}

// Option configures a Checker.
type Option func(*config)

type config struct {
	maxDuplicates int
	maxCopies     int
	allowReorder  bool
}

// MaxDuplicates is how many extra copies of records the verdict tolerates:
// duplicates are still counted and listed (as allowed) but keep the verdict
// Ok up to n. Pass math.MaxInt to accept at-least-once delivery. The
// default is 0: any duplicate is Illegal (exactly-once).
func MaxDuplicates(n int) Option { return func(c *config) { c.maxDuplicates = max(n, 0) } }

// MaxRecordCopies declares at-least-once delivery with a bound: any record
// may be in the store up to n times (duplicates are counted and listed as
// allowed), and a record found more than n times is Illegal
// (TooManyCopies), as the maxRecordCopies of Kafka Connect's sink test
// kits. n ≤ 0 leaves the default, exactly-once (see MaxDuplicates). n is
// at most 254.
func MaxRecordCopies(n int) Option {
	return func(c *config) { c.maxCopies = min(max(n, 0), 254) }
}

// AllowReorder keeps the verdict Ok when records of a key arrive out of
// produce order within a partition; they are still counted and listed. By
// default a reorder is Illegal.
//
// The reorder check reads records in store order: objects of a partition
// by the start offset in their name, Kafka Connect style
// (<topic>+<partition>+<startOffset>.<ext>), then every other object by
// key. Only names of that form make the order meaningful: a sink that
// names its objects otherwise should not promise per-key order to the
// checker (Result.UnnamedObjects counts such objects).
func AllowReorder() Option { return func(c *config) { c.allowReorder = true } }

// Result is a checker's findings. Ledger counts (Attempted … Indeterminate)
// come from the Ledger; the others from the store.
type Result struct {
	Verdict Verdict `json:"verdict"`

	Attempted     int `json:"attempted"`
	Acked         int `json:"acked"`
	Failed        int `json:"failed"`
	Indeterminate int `json:"indeterminate"`

	FoundRecords int `json:"found_records"` // every record read, copies included
	FoundUnique  int `json:"found_unique"`  // distinct IDs read
	Objects      int `json:"objects"`

	Lost                 int `json:"lost"`       // acked, never found
	Duplicated           int `json:"duplicated"` // extra copies
	Unexpected           int `json:"unexpected"` // distinct IDs found, never attempted
	Reordered            int `json:"reordered"`
	IndeterminateFound   int `json:"indeterminate_found"`
	IndeterminateMissing int `json:"indeterminate_missing"`
	Recovered            int `json:"recovered"` // failed, found anyway

	// UnnamedObjects counts objects whose name does not carry partition
	// and start offset (<topic>+<partition>+<startOffset>.<ext>): their
	// records' order was read by key, not by offset.
	UnnamedObjects int `json:"unnamed_objects,omitempty"`

	CorruptObjects []string    `json:"corrupt_objects,omitempty"`
	Violations     []Violation `json:"violations,omitempty"`
}

// Violation is one kind of problem. Allowed violations (indeterminate
// records missing, failed records recovered, duplicates or reorders an
// Option tolerates) are reported but do not change the verdict.
type Violation struct {
	Kind    string   `json:"kind"`
	Count   int      `json:"count"`
	First   []uint64 `json:"first,omitempty"` // the first (at most 10) IDs concerned
	Detail  string   `json:"detail"`
	Allowed bool     `json:"allowed,omitempty"`
}

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", v.Kind, v.Detail)
	if len(v.First) > 0 {
		fmt.Fprintf(&b, " (first IDs: %s)", strings.Trim(fmt.Sprint(v.First), "[]"))
	}
	if v.Allowed {
		b.WriteString(" [allowed]")
	}
	return b.String()
}

// Err returns nil if the verdict is Ok, otherwise one error listing every
// violation that is not allowed, one per line.
func (r Result) Err() error {
	if r.Verdict == Ok {
		return nil
	}
	lines := []string{"checker: verdict " + string(r.Verdict) + ":"}
	for _, v := range r.Violations {
		if !v.Allowed {
			lines = append(lines, v.String())
		}
	}
	return errors.New(strings.Join(lines, "\n"))
}

// Summary is the result on one line.
func (r Result) Summary() string {
	return fmt.Sprintf("attempted=%d acked=%d found=%d lost=%d duplicated=%d unexpected=%d reordered=%d indeterminate=%d corrupt=%d verdict=%s",
		r.Attempted, r.Acked, r.FoundRecords, r.Lost, r.Duplicated, r.Unexpected, r.Reordered,
		r.Indeterminate, len(r.CorruptObjects), r.Verdict)
}

// Checker is fed the records found in the store, in store order (objects of
// a partition by start offset, records in object order), and then asked for
// a Result. The Ledger must not change once New has been called. A Checker
// is not safe for concurrent use.
//
//	c := checker.New(checker.LedgerFrom(h.Events()))
//	err := checker.ReadStore(ctx, client, bucket, "topics/", c)
//	res := c.Result() // Unknown if err != nil and nothing definite was found
//
// Methods: Record (each record), Object (each object, optional),
// CorruptObject (an object that failed to decode), Incomplete (the store
// could not be read completely), Result.
func New(l *Ledger, opts ...Option) *Checker {
	c := &Checker{ledger: l, keys: make(map[pkey]int32)}
	for _, o := range opts {
		o(&c.cfg)
	}
	c.seen = make([]uint8, len(l.dense))
	return c
}
