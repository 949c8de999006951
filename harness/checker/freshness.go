package checker

import (
	"slices"
	"time"
)

// Delivery is one acknowledged record as the harness saw it from outside:
// when the producer's ack came, and when the object holding the record was
// written to the store (Stored; zero if the bucket never held it).
type Delivery struct {
	Partition int32
	Acked     time.Time
	Stored    time.Time
}

// LagSample is the freshness lag of one partition at one moment.
type LagSample struct {
	At  time.Time
	Lag time.Duration
}

// Freshness is a partition's freshness lag over time, measured from
// outside the system under test: at every moment t, the age of the oldest
// record acknowledged by t that the bucket did not hold at t (zero when it
// held every one). A pipeline that keeps up shows a sawtooth bounded by
// its batching; a partition nobody loads grows one second per second,
// whatever the job reports about itself.
//
// The lag is sampled every step from the first ack to end. The stored time
// of a record is the write of the object that holds it at the end of the
// run; an object written several times counts from its last write, which
// can only make the lag look larger, never hide staleness.
func Freshness(ds []Delivery, step time.Duration, end time.Time) map[int32][]LagSample {
	byPart := map[int32][]Delivery{}
	for _, d := range ds {
		byPart[d.Partition] = append(byPart[d.Partition], d)
	}
	out := make(map[int32][]LagSample, len(byPart))
	for p, recs := range byPart {
		slices.SortFunc(recs, func(a, b Delivery) int { return a.Acked.Compare(b.Acked) })
		out[p] = partitionLag(recs, step, end)
	}
	return out
}

// partitionLag sweeps the moments in order. Once the bucket holds a record
// it holds it for good, so the earliest-acked record not yet stored only
// moves forward: one pass over the records in ack order.
func partitionLag(recs []Delivery, step time.Duration, end time.Time) []LagSample {
	if len(recs) == 0 || step <= 0 {
		return nil
	}
	stored := func(d Delivery, t time.Time) bool { return !d.Stored.IsZero() && !d.Stored.After(t) }
	var out []LagSample
	first := 0
	for t := recs[0].Acked; !t.After(end); t = t.Add(step) {
		for first < len(recs) && stored(recs[first], t) {
			first++
		}
		lag := time.Duration(0)
		if first < len(recs) && !recs[first].Acked.After(t) {
			lag = t.Sub(recs[first].Acked)
		}
		out = append(out, LagSample{At: t, Lag: lag})
	}
	return out
}
