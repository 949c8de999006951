package checker

import (
	"fmt"
	"slices"
	"strings"
)

// firstN is how many IDs a Violation lists.
const firstN = 10

// pkey identifies a key within a partition for the reorder check. Its Key
// is a clone made once per distinct key (interned), never per record.
type pkey struct {
	partition int32
	key       string
}

// Checker implements Jepsen's total-queue check, streaming. Per record it
// costs one byte lookup in the seen table and one map lookup for the key's
// last ID; it allocates only for new keys and sparse IDs.
type Checker struct {
	ledger *Ledger
	cfg    config

	// seen counts sightings per ID, saturating at 255: a table parallel to
	// the ledger's dense one, and a map for every other ID.
	seen       []uint8
	seenSparse map[uint64]uint8

	// keys maps partition+key to an index into last, the last ID seen
	// (first occurrences only) for that key.
	keys map[pkey]int32
	last []uint64

	records, unique, objects       int
	duplicated, unexpected, reords int
	dupFirst, unexpFirst, reFirst  []uint64

	lastObject string
	anyObject  bool
	unnamed    int // objects not named <topic>+<partition>+<startOffset>.<ext>

	overCopies int // records with more copies than MaxRecordCopies allows
	overFirst  []uint64

	corrupt    []string
	corruptErr []string
	incomplete []string
}

// Object notes the start of the object named key, so that an object with
// no records still counts in Objects. Record counts a new Found.Object by
// itself; calling Object is only needed for empty objects.
func (c *Checker) Object(key string) {
	if !c.anyObject || key != c.lastObject {
		c.objects++
		c.lastObject, c.anyObject = key, true
		if !parseObjectName(key).named {
			c.unnamed++
		}
	}
}

// Record notes one record found in the store.
func (c *Checker) Record(f Found) {
	c.records++
	if !c.anyObject || f.Object != c.lastObject {
		c.Object(f.Object)
	}

	var n uint8
	if f.ID < uint64(len(c.seen)) {
		n = c.seen[f.ID]
		if n < 255 {
			c.seen[f.ID] = n + 1
		}
	} else {
		if c.seenSparse == nil {
			c.seenSparse = make(map[uint64]uint8)
		}
		n = c.seenSparse[f.ID]
		if n < 255 {
			c.seenSparse[f.ID] = n + 1
		}
	}
	if n > 0 {
		c.duplicated++
		if n == 1 {
			c.dupFirst = appendFirst(c.dupFirst, f.ID)
		}
		if m := c.cfg.maxCopies; m > 0 && int(n) == m { // this copy is one too many
			c.overCopies++
			c.overFirst = appendFirst(c.overFirst, f.ID)
		}
		return
	}
	c.unique++
	if c.ledger.get(f.ID) == none {
		c.unexpected++
		c.unexpFirst = appendFirst(c.unexpFirst, f.ID)
	}

	k := pkey{f.Partition, f.Key}
	i, ok := c.keys[k]
	if !ok {
		k.key = strings.Clone(f.Key)
		c.keys[k] = int32(len(c.last))
		c.last = append(c.last, f.ID)
		return
	}
	if f.ID < c.last[i] {
		c.reords++
		c.reFirst = appendFirst(c.reFirst, f.ID)
	}
	c.last[i] = f.ID
}

// CorruptObject notes an object that could not be decoded. Records read
// from it before the error still count.
func (c *Checker) CorruptObject(key string, err error) {
	c.Object(key)
	c.corrupt = append(c.corrupt, key)
	c.corruptErr = append(c.corruptErr, fmt.Sprintf("%s: %v", key, err))
}

// Incomplete notes that the store could not be read completely (a listing
// or read error): what was not read cannot be judged.
func (c *Checker) Incomplete(err error) {
	c.incomplete = append(c.incomplete, err.Error())
}

func (c *Checker) found(id uint64) bool {
	if id < uint64(len(c.seen)) {
		return c.seen[id] > 0
	}
	return c.seenSparse[id] > 0
}

// Result compares the ledger with what was found. It may be called more
// than once.
func (c *Checker) Result() Result {
	counts := c.ledger.Counts()
	r := Result{
		Attempted:     counts.Attempted,
		Acked:         counts.Acked,
		Failed:        counts.Failed,
		Indeterminate: counts.Indeterminate,
		FoundRecords:  c.records,
		FoundUnique:   c.unique,
		Objects:       c.objects,
		Duplicated:    c.duplicated,
		Unexpected:    c.unexpected,
		Reordered:     c.reords,

		UnnamedObjects: c.unnamed,
	}
	if len(c.corrupt) > 0 {
		r.CorruptObjects = append([]string(nil), c.corrupt...)
	}

	var lostFirst, indFirst, recFirst []uint64
	ackedFound := 0
	c.ledger.each(func(id uint64, s state) {
		found := c.found(id)
		switch s {
		case acked:
			if found {
				ackedFound++
			} else {
				r.Lost++
				lostFirst = appendFirst(lostFirst, id)
			}
		case failed:
			if found {
				r.Recovered++
				recFirst = appendFirst(recFirst, id)
			}
		case pending, indeterminate:
			if found {
				r.IndeterminateFound++
			} else {
				r.IndeterminateMissing++
				indFirst = appendFirst(indFirst, id)
			}
		}
	})

	empty := ackedFound == 0
	dupIllegal := r.Duplicated > c.cfg.maxDuplicates && c.cfg.maxCopies == 0
	reorderIllegal := r.Reordered > 0 && !c.cfg.allowReorder
	copiesIllegal := c.overCopies > 0
	definite := r.Unexpected > 0 || len(c.corrupt) > 0 || dupIllegal || reorderIllegal || copiesIllegal
	switch {
	case definite:
		r.Verdict = Illegal
	case len(c.incomplete) > 0:
		r.Verdict = Unknown
	case r.Lost > 0 || empty:
		r.Verdict = Illegal
	default:
		r.Verdict = Ok
	}

	add := func(v Violation) { r.Violations = append(r.Violations, v) }
	if len(c.incomplete) > 0 {
		add(Violation{Kind: Incomplete, Count: len(c.incomplete),
			Detail: "the store could not be read completely: " + strings.Join(c.incomplete, "; ")})
	}
	if empty {
		d := "the store is empty: no record was found"
		if c.records > 0 {
			d = fmt.Sprintf("no acked record was found in the store (%d records found, %d acked)", c.records, r.Acked)
		}
		add(Violation{Kind: Empty, Count: 1, Detail: d})
	}
	if r.Lost > 0 {
		add(Violation{Kind: Lost, Count: r.Lost, First: lostFirst,
			Detail: fmt.Sprintf("%d acked records never reached the store", r.Lost)})
	}
	if r.Unexpected > 0 {
		add(Violation{Kind: Unexpected, Count: r.Unexpected, First: slices.Clone(c.unexpFirst),
			Detail: fmt.Sprintf("%d records in the store were never produced", r.Unexpected)})
	}
	if len(c.corrupt) > 0 {
		add(Violation{Kind: Corrupt, Count: len(c.corrupt),
			Detail: fmt.Sprintf("%d objects could not be decoded: %s", len(c.corrupt), joinFirst(c.corruptErr))})
	}
	if r.Duplicated > 0 {
		add(Violation{Kind: Duplicated, Count: r.Duplicated, First: slices.Clone(c.dupFirst), Allowed: !dupIllegal,
			Detail: fmt.Sprintf("%d extra copies of records in the store", r.Duplicated)})
	}
	if copiesIllegal {
		add(Violation{Kind: TooManyCopies, Count: c.overCopies, First: slices.Clone(c.overFirst),
			Detail: fmt.Sprintf("%d records are in the store more than the %d copies allowed", c.overCopies, c.cfg.maxCopies)})
	}
	if r.Reordered > 0 {
		add(Violation{Kind: Reordered, Count: r.Reordered, First: slices.Clone(c.reFirst), Allowed: !reorderIllegal,
			Detail: fmt.Sprintf("%d records out of produce order for their key within a partition", r.Reordered)})
	}
	if r.IndeterminateMissing > 0 {
		add(Violation{Kind: Indeterminate, Count: r.IndeterminateMissing, First: indFirst, Allowed: true,
			Detail: fmt.Sprintf("%d records with an unknown outcome were not found (%d were); an unknown outcome may be lost",
				r.IndeterminateMissing, r.IndeterminateFound)})
	}
	if r.Recovered > 0 {
		add(Violation{Kind: Recovered, Count: r.Recovered, First: recFirst, Allowed: true,
			Detail: fmt.Sprintf("%d records the producer was told failed were found anyway", r.Recovered)})
	}
	return r
}

func appendFirst(ids []uint64, id uint64) []uint64 {
	if len(ids) < firstN {
		ids = append(ids, id)
	}
	return ids
}

func joinFirst(s []string) string {
	if len(s) <= firstN {
		return strings.Join(s, "; ")
	}
	return strings.Join(s[:firstN], "; ") + fmt.Sprintf("; and %d more", len(s)-firstN)
}
