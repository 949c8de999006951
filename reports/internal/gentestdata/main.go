// Command gentestdata synthesizes the recorded runs in reports/testdata
// (broker-crash, fixed and buggy): a history shaped like a real run (a
// producer at 50 records/s over 3 partitions, a broker crash from 3.2s to
// 6.8s that stalls partition 1, a sink flushing every 500ms, lag, buffered
// bytes and store counters sampled every 100ms) with a checker verdict. The
// buggy run loses the batch the sink committed before a failed write. It
// exists so the report tests and `make report-check` do not depend on a
// scenario run; replace the files with a real recording (the history.json
// of `pipechaos run broker-crash --report dir`) when one is worth keeping.
//
//	go run ./reports/internal/gentestdata   (from the module root)
package main

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"time"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/reports"
)

func main() {
	for _, v := range []harness.Variant{harness.Buggy, harness.Fixed} {
		o := gen(v)
		f, _ := os.Create(fmt.Sprintf("reports/testdata/broker-crash-%s.json", v))
		if err := reports.WriteRecorded(f, o); err != nil {
			panic(err)
		}
		f.Close()
	}
}

func gen(v harness.Variant) harness.Outcome {
	seed, _ := harness.Seed("broker-crash")
	rng := rand.New(rand.NewSource(seed))
	start := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	var ev []history.Event
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	add := func(ms int, e history.Event) { e.At = at(ms); ev = append(ev, e) }
	note := func(ms int, s string) { add(ms, history.Event{Type: history.Note, Process: "scenario", Text: s}) }
	note(0, fmt.Sprintf("scenario broker-crash (%s connector) on the embedded backend, seed %d", v, seed))
	note(40, "environment: primary region 3 brokers, topic events with 3 partitions")
	note(80, "workload: 50 records/s, uniform keys over 64 devices")
	const faultStart, faultHeal, end, stopProduce = 3200, 6800, 12000, 10000
	id := uint64(0)
	offsets := [3]int64{}
	pendingWrite := [3][]uint64{}
	buffered := [3]int{}
	lag := [3]int{}
	acked, failed, indet := 0, 0, 0
	var written []uint64
	lost := 0
	var lostIDs []uint64
	retries := 0
	storeReq := 0
	bytesIn := 0
	objects := 0
	for ms := 100; ms <= end; ms += 20 {
		if ms == faultStart {
			add(ms, history.Event{Type: history.Fault, Process: "nemesis", Fault: "broker-crash", Phase: history.Start, Target: "primary/1", Text: "kill broker 1, the leader of events/1"})
			note(ms, "nemesis: broker 1 crashed")
		}
		if ms == faultHeal {
			add(ms, history.Event{Type: history.Fault, Process: "nemesis", Fault: "broker-crash", Phase: history.Heal, Target: "primary/1", Text: "restart broker 1 on its data dir"})
			note(ms, "nemesis: broker 1 restarted")
		}
		inFault := ms >= faultStart && ms < faultHeal
		if ms < stopProduce {
			id++
			p := int32(rng.Intn(3))
			key := "device-" + strconv.Itoa(rng.Intn(64))
			e := history.Event{Type: history.Produce, Process: "producer", RecordID: id, Key: key, Region: "primary", Topic: "events", Partition: p}
			e.Outcome = history.Acked
			if inFault && p == 1 && ms < faultStart+1400 {
				if rng.Float64() < 0.8 {
					e.Outcome, e.Err = history.Failed, "NOT_LEADER_OR_FOLLOWER: the broker is not the leader for that topic partition"
				} else {
					e.Outcome, e.Err = history.Indeterminate, "context deadline exceeded"
				}
			}
			switch e.Outcome {
			case history.Acked:
				e.Offset = offsets[p]
				offsets[p]++
				acked++
				pendingWrite[p] = append(pendingWrite[p], id)
				lag[p]++
			case history.Failed:
				failed++
			default:
				indet++
			}
			add(ms, e)
		}
		// The sink consumes: partition 1 stalls during the fault.
		for p := 0; p < 3; p++ {
			if inFault && p == 1 {
				continue
			}
			if lag[p] > 0 {
				lag[p]--
				buffered[p] += 180
			}
		}
		if ms%500 == 0 {
			for p := 0; p < 3; p++ {
				if inFault && p == 1 || len(pendingWrite[p]) == 0 {
					continue
				}
				ids := pendingWrite[p]
				pendingWrite[p] = nil
				n := len(ids)
				if v == harness.Buggy && p == 1 && ms == faultHeal+200 {
					// The buggy sink committed the batch before the write that failed.
					lost += n
					lostIDs = append(lostIDs, ids...)
					add(ms, history.Event{Type: history.Note, Process: "sink-0", Text: fmt.Sprintf("put topics/events/partition=1 failed: connection reset; offsets already committed (%d records)", n)})
					buffered[p] = 0
					retries++
					continue
				}
				obj := fmt.Sprintf("topics/events/partition=%d/events+%d+%010d.avro", p, p, ids[0])
				add(ms, history.Event{Type: history.SinkWrite, Process: "sink-0", Object: obj, Records: n, Bytes: int64(n*180 + 420)})
				written = append(written, ids...)
				storeReq++
				bytesIn += n*180 + 420
				objects++
				buffered[p] = 0
			}
		}
		if inFault && ms%400 == 0 {
			retries++
			storeReq++
		}
		if ms%100 == 0 {
			total := 0
			for p := 0; p < 3; p++ {
				add(ms, history.Event{Type: history.Metric, Metric: "lag", Labels: map[string]string{"topic": "events", "partition": strconv.Itoa(p)}, Value: float64(lag[p] + len(pendingWrite[p])/4)})
				total += lag[p] + len(pendingWrite[p])/4
			}
			add(ms, history.Event{Type: history.Metric, Metric: "lag_total", Labels: map[string]string{"topic": "events"}, Value: float64(total)})
			add(ms, history.Event{Type: history.Metric, Metric: "pipechaos_s3sink_buffered_bytes", Labels: map[string]string{"process": "sink-0"}, Value: float64(buffered[0] + buffered[1] + buffered[2])})
			add(ms, history.Event{Type: history.Metric, Metric: "store_requests", Value: float64(storeReq + 2)})
			add(ms, history.Event{Type: history.Metric, Metric: "store_bytes_in", Value: float64(bytesIn)})
			add(ms, history.Event{Type: history.Metric, Metric: "store_bytes_out", Value: float64(storeReq * 230)})
			add(ms, history.Event{Type: history.Metric, Metric: "store_errors_5xx", Value: 0})
			add(ms, history.Event{Type: history.Metric, Metric: "pipechaos_s3sink_retries_total", Labels: map[string]string{"process": "sink-0", "op": "commit"}, Value: float64(retries)})
		}
		if ms == stopProduce {
			note(ms, "workload: stopped producing; draining the sink")
		}
	}
	note(end, fmt.Sprintf("drained: %d objects in the bucket; checking", objects))
	for i := range ev {
		ev[i].Seq = int64(i)
	}
	res := checker.Result{Attempted: int(id), Acked: acked, Failed: failed, Indeterminate: indet,
		FoundRecords: len(written), FoundUnique: len(written), Objects: objects, Lost: lost,
		IndeterminateMissing: indet}
	res.Verdict = checker.Ok
	if indet > 0 {
		res.Violations = append(res.Violations, checker.Violation{Kind: checker.Indeterminate, Count: indet, Detail: fmt.Sprintf("%d records with unknown outcome were not found", indet), Allowed: true})
	}
	o := harness.Outcome{Scenario: "broker-crash", Variant: v, Backend: "embedded", Seed: seed, Started: start, Elapsed: 12*time.Second + 180*time.Millisecond,
		Metrics: map[string]float64{"peak_buffered_bytes": 9720, "rebalances": 2}}
	if lost > 0 {
		res.Verdict = checker.Illegal
		res.Violations = append([]checker.Violation{{Kind: checker.Lost, Count: lost, First: lostIDs[:min(10, len(lostIDs))], Detail: fmt.Sprintf("%d acked records were never found in the store", lost)}}, res.Violations...)
		o.Failure = harness.BugPrefix + fmt.Sprintf("%d acked records never reached the bucket (first IDs %v)", lost, lostIDs[:min(10, len(lostIDs))])
		ev = append(ev, history.Event{Seq: int64(len(ev)), At: at(end + 150), Type: history.Note, Process: "scenario", Text: "checker: " + res.Summary()})
	}
	o.Check = &res
	o.Events = ev
	return o
}
