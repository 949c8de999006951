package scenarios

import (
	"fmt"
	"strconv"
	"time"

	"github.com/pipechaos/pipechaos/connectors/batchloader"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/history"
)

// silentPartition is what the run shows about one partition.
type silentPartition struct {
	acked, lost int
	peak        time.Duration
	breachAt    time.Time     // first moment its lag was above the bound
	breachLag   time.Duration // the lag then
	jobPeak     float64       // the job's own SLI, shown, never judged
	jobBreachAt time.Time
}

// silentCheckFreshness judges every partition's freshness as the harness
// measures it from outside (acks from the producer, object writes from the
// store, the records in each object from the bucket) and ties a stale
// partition to the records it never delivered. The job's own SLI is shown
// beside it.
func silentCheckFreshness(r *harness.Run, runs *silentRunner, cut int32, res checker.Result, stored map[uint64]string, end time.Time, sli bool) {
	written := map[string]time.Time{} // object → its last write the store answered
	parts := map[int32]*silentPartition{}
	get := func(p int32) *silentPartition {
		if parts[p] == nil {
			parts[p] = &silentPartition{}
		}
		return parts[p]
	}
	// One pass over the history: the object writes and the acks, then each
	// ack is matched to the last write of the object holding its record.
	type ack struct {
		partition int32
		at        time.Time
		id        uint64
	}
	var acks []ack
	for _, e := range r.History.Events() {
		switch {
		case e.Type == history.SinkWrite && e.Process == harness.StoreProcess:
			if e.At.After(written[e.Object]) {
				written[e.Object] = e.At
			}
		case e.Type == history.Produce && e.Outcome == history.Acked && e.Topic == silentTopic:
			acks = append(acks, ack{e.Partition, e.At, e.RecordID})
		case e.Type == history.Metric && e.Metric == batchloader.LagMetric:
			p, err := strconv.ParseInt(e.Labels["partition"], 10, 32)
			if err != nil {
				continue
			}
			sp := get(int32(p))
			sp.jobPeak = max(sp.jobPeak, e.Value)
			if e.Value > silentBound.Seconds() && sp.jobBreachAt.IsZero() {
				sp.jobBreachAt = e.At
			}
		}
	}
	ds := make([]checker.Delivery, 0, len(acks))
	for _, a := range acks {
		sp := get(a.partition)
		sp.acked++
		d := checker.Delivery{Partition: a.partition, Acked: a.at}
		if obj, ok := stored[a.id]; ok {
			d.Stored = written[obj]
			if d.Stored.IsZero() { // in the bucket, its write never seen: only as of the end
				d.Stored = end
			}
		} else {
			sp.lost++
		}
		ds = append(ds, d)
	}
	if len(written) == 0 {
		r.Inconclusive("the store recorded no object write: without the write times the harness cannot measure freshness")
		return
	}
	for p, samples := range checker.Freshness(ds, silentSample, end) {
		sp := get(p)
		for _, s := range samples {
			if s.Lag > sp.peak {
				sp.peak = s.Lag
			}
			if s.Lag > silentBound && sp.breachAt.IsZero() {
				sp.breachAt, sp.breachLag = s.At, s.Lag
			}
		}
	}

	var peak time.Duration
	peakP := int32(-1)
	for p := range int32(silentPartitions) {
		sp := get(p)
		if sp.acked == 0 {
			r.Inconclusive("no record was acked to partition %d: nothing shows whether its data stays fresh", p)
			continue
		}
		if sp.peak > peak {
			peak, peakP = sp.peak, p
		}
		if sp.breachAt.IsZero() {
			continue
		}
		stopped := sp.breachAt.Add(-sp.breachLag) // the ack of its oldest record not yet stored
		r.Metric("stale_partition", float64(p))
		job := "the job's own pipeline_lag_seconds never crossed it"
		if !sli {
			job = "the job exposes no pipeline_lag_seconds of its own"
		}
		if !sp.jobBreachAt.IsZero() {
			// Shown, not judged: how soon the job's own alert would have fired.
			latency := sp.jobBreachAt.Sub(stopped)
			r.Metric("sli_detection_latency_seconds", latency.Seconds())
			job = fmt.Sprintf("the job's own pipeline_lag_seconds crossed it at +%s, %s after", since(r, sp.jobBreachAt), latency.Round(time.Millisecond))
		}
		r.Logf("partition %d: its oldest unloaded record was older than %s from +%s (its data stopped arriving at +%s); %s",
			p, silentBound, since(r, sp.breachAt), since(r, stopped), job)
		r.ViolationOf(harness.Stale, "partition %d stale for %.1fs (the bucket lagged its acks by more than %s from +%s) "+
			"while %d runs reported success; %d of its %d acked records never reached the bucket",
			p, sp.peak.Seconds(), silentBound, since(r, sp.breachAt), runs.succeeded(stopped), sp.lost, sp.acked)
	}
	r.Metric("freshness_peak_seconds", peak.Seconds())
	if peak <= silentBound && peakP >= 0 {
		r.Logf("freshness held: every partition's data reached the bucket within %s of its ack (peak %s on partition %d; "+
			"partition %d, left out of one run, peaked at %s; the job's own SLI peaked at %.2fs there); the checker found %d of %d acked records",
			silentBound, peak.Round(time.Millisecond), peakP, cut, get(cut).peak.Round(time.Millisecond), get(cut).jobPeak, res.FoundRecords, res.Acked)
	}
}
