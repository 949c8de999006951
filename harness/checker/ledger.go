package checker

import (
	"slices"

	"github.com/pipechaos/pipechaos/harness/history"
)

// state is what the ledger knows of one ID. The zero value means the ID was
// never attempted.
type state uint8

const (
	none state = iota
	pending
	acked
	failed
	indeterminate
)

// denseLimit bounds the ledger's dense table: IDs below it cost one byte
// each (64 MiB at most); IDs at or above it go to a map. Workload IDs are
// small dense integers starting at 1, so a run of 10M records costs ~10 MiB.
const denseLimit = 1 << 26

// Ledger is the compact record of every produce attempt, keyed by the
// record's unique ID: attempted, then acked, failed or indeterminate. The
// final outcome wins (an Ack after an Indeterminate means acked). An attempt
// with no outcome counts as indeterminate: an operation that never completed
// may or may not have happened.
//
// A Ledger is not safe for concurrent use.
type Ledger struct {
	dense  []state          // index = ID, for IDs < denseLimit
	sparse map[uint64]state // IDs >= denseLimit
	counts [indeterminate + 1]int
}

// Counts are a ledger's totals. Attempted is the number of distinct IDs;
// Acked + Failed + Indeterminate == Attempted.
type Counts struct {
	Attempted     int `json:"attempted"`
	Acked         int `json:"acked"`
	Failed        int `json:"failed"`
	Indeterminate int `json:"indeterminate"`
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{} }

// LedgerFrom builds a ledger from the Produce events of a history; other
// events are ignored. An event with no Outcome is an attempt still in flight.
func LedgerFrom(events []history.Event) *Ledger {
	l := NewLedger()
	for _, e := range events {
		if e.Type != history.Produce {
			continue
		}
		switch e.Outcome {
		case history.Acked:
			l.Ack(e.RecordID)
		case history.Failed:
			l.Fail(e.RecordID)
		case history.Indeterminate:
			l.Indeterminate(e.RecordID)
		default:
			l.Attempt(e.RecordID)
		}
	}
	return l
}

// LedgerFromHistory builds a ledger from a history's produce outcomes
// without materialising its events (the way in at scale).
func LedgerFromHistory(h *history.History) *Ledger {
	l := NewLedger()
	h.EachProduce(func(id uint64, o history.Outcome) {
		switch o {
		case history.Acked:
			l.Ack(id)
		case history.Failed:
			l.Fail(id)
		case history.Indeterminate:
			l.Indeterminate(id)
		default:
			l.Attempt(id)
		}
	})
	return l
}

// Attempt records that id was sent. It never overrides an outcome.
func (l *Ledger) Attempt(id uint64) {
	if l.get(id) == none {
		l.set(id, pending)
	}
}

// Ack records that the broker acknowledged id.
func (l *Ledger) Ack(id uint64) { l.set(id, acked) }

// Fail records that the producer was told id was not written.
func (l *Ledger) Fail(id uint64) { l.set(id, failed) }

// Indeterminate records that the outcome of id is unknown.
func (l *Ledger) Indeterminate(id uint64) { l.set(id, indeterminate) }

// Counts returns the ledger's totals.
func (l *Ledger) Counts() Counts {
	return Counts{
		Attempted:     l.counts[pending] + l.counts[acked] + l.counts[failed] + l.counts[indeterminate],
		Acked:         l.counts[acked],
		Failed:        l.counts[failed],
		Indeterminate: l.counts[pending] + l.counts[indeterminate],
	}
}

func (l *Ledger) get(id uint64) state {
	if id < uint64(len(l.dense)) {
		return l.dense[id]
	}
	if id < denseLimit {
		return none
	}
	return l.sparse[id]
}

func (l *Ledger) set(id uint64, s state) {
	var old state
	if id < denseLimit {
		if id >= uint64(len(l.dense)) {
			l.grow(id)
		}
		old, l.dense[id] = l.dense[id], s
	} else {
		if l.sparse == nil {
			l.sparse = make(map[uint64]state)
		}
		old, l.sparse[id] = l.sparse[id], s
	}
	if old != none {
		l.counts[old]--
	}
	l.counts[s]++
}

// grow extends the dense table to hold id, doubling to amortise.
func (l *Ledger) grow(id uint64) {
	n := max(2*uint64(len(l.dense)), id+1, 1024)
	n = min(n, denseLimit)
	if uint64(cap(l.dense)) >= n {
		l.dense = l.dense[:n]
		return
	}
	d := make([]state, n)
	copy(d, l.dense)
	l.dense = d
}

// each calls fn for every attempted ID, dense IDs in ascending order first.
func (l *Ledger) each(fn func(id uint64, s state)) {
	for id, s := range l.dense {
		if s != none {
			fn(uint64(id), s)
		}
	}
	ids := make([]uint64, 0, len(l.sparse))
	for id := range l.sparse {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fn(id, l.sparse[id])
	}
}
