// Package checker decides whether a run lost data. It follows Jepsen's
// total-queue checker: every produce attempt is in a Ledger (attempted,
// acked, failed, indeterminate); after a full drain every record found in
// the object store is fed to a Checker; the Result lists lost (acked, never
// found), unexpected (found, never attempted), duplicated (found more than
// once), reordered (out of produce order for its key within a partition),
// indeterminate outcomes (found or not) and corrupt objects. The verdict is
// Ok only if nothing was lost, nothing unexpected, no object was corrupt and
// at least one record was found: an empty store is never Ok.
package checker

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
)

// Found is one record read back from the store.
type Found struct {
	ID        uint64
	Key       string
	Partition int32
	Object    string
}
