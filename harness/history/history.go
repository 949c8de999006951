// Package history is the append-only record of a run: every produce attempt
// and its outcome, every object a sink wrote, every fault started and healed,
// and metric samples over time. Faults are ordinary entries (Jepsen's :info),
// so a report draws them on the same timeline as throughput and lag.
package history

import (
	"sort"
	"sync"
	"time"
)

// Type says what an Event describes.
type Type string

const (
	// Produce is the outcome of one produce attempt (see Outcome).
	Produce Type = "produce"
	// SinkWrite is one object write the store accepted, as the harness
	// observed it at the store's fault layer (never reported by a sink).
	SinkWrite Type = "sink-write"
	// Fault is a nemesis starting or healing (see Phase).
	Fault Type = "fault"
	// Metric is one sample of a named metric.
	Metric Type = "metric"
	// Note is free text for the narrative: a phase of the scenario, a
	// connector's own error, anything a reader of the timeline should see.
	Note Type = "note"
)

// Outcome is what became of a produce attempt.
type Outcome string

const (
	// Acked: the broker acknowledged the record; it must reach the store.
	Acked Outcome = "acked"
	// Failed: the producer was told the record was not written.
	Failed Outcome = "failed"
	// Indeterminate: the outcome is unknown (timeout, cancellation): the
	// record may or may not have been written.
	Indeterminate Outcome = "indeterminate"
)

// Phase is the step of a fault.
type Phase string

const (
	Start Phase = "start"
	Heal  Phase = "heal"
)

// Event is one entry. Fields not relevant to the Type are left zero.
type Event struct {
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	Type    Type      `json:"type"`
	Process string    `json:"process,omitempty"` // who: "producer", "sink-0", "nemesis"

	// Produce.
	RecordID  uint64  `json:"record_id,omitempty"`
	Key       string  `json:"key,omitempty"`
	Outcome   Outcome `json:"outcome,omitempty"`
	Region    string  `json:"region,omitempty"`
	Topic     string  `json:"topic,omitempty"`
	Partition int32   `json:"partition,omitempty"`
	Offset    int64   `json:"offset,omitempty"`
	Err       string  `json:"error,omitempty"`

	// SinkWrite.
	Object  string `json:"object,omitempty"`
	Records int    `json:"records,omitempty"`
	Bytes   int64  `json:"bytes,omitempty"`

	// Fault.
	Fault  string `json:"fault,omitempty"`
	Phase  Phase  `json:"phase,omitempty"`
	Target string `json:"target,omitempty"`

	// Metric.
	Metric string            `json:"metric,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value,omitempty"`

	// Note (and a fault's description).
	Text string `json:"text,omitempty"`
}

// History is safe for concurrent use. The zero value is not usable: call New.
//
// It is built to hold a production-sized run (10M produce outcomes and
// more) in little memory: produce outcomes are kept compactly (see
// produceLog, about 10 bytes each), metric samples in bounded series (see
// series), and only faults, notes and sink writes as Event values. Events
// and Filter materialise Event values on demand; Each, EachProduce and
// Downsampled walk the history without holding all of it as events.
type History struct {
	mu      sync.Mutex
	start   time.Time
	seq     int64
	other   []Event // events that are neither a compact produce outcome nor a sample
	prod    produceLog
	series  seriesSet
	counts  map[countKey]int
	written int64 // records in SinkWrite events
	scale   int
	now     func() time.Time
}

type countKey struct {
	t Type
	o Outcome
}

// New returns an empty history whose clock starts now.
func New() *History {
	now := time.Now()
	return &History{start: now, now: time.Now, counts: map[countKey]int{}, prod: newProduceLog(now), series: newSeriesSet(DefaultSeriesCap)}
}

// Start is when the history began.
func (h *History) Start() time.Time { return h.start }

// SetScale records the scale factor of the run this history belongs to (see
// harness.Run.Scale); triggers that count records (nemesis.AfterAcked) move
// with it. Values below 1 read as 1.
func (h *History) SetScale(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.scale = n
}

// Scale is the run's scale factor, 1 unless SetScale said otherwise.
func (h *History) Scale() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return max(h.scale, 1)
}

// Append stamps e with the next sequence number and, if e.At is zero, the
// current time, and appends it. It returns the stored event.
func (h *History) Append(e Event) Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	e.Seq = h.seq
	h.seq++
	if e.At.IsZero() {
		e.At = h.now()
	}
	switch {
	case compactProduce(e):
		h.prod.add(e)
	case compactSample(e):
		h.series.add(e)
	default:
		h.other = append(h.other, e)
	}
	h.counts[countKey{e.Type, ""}]++
	if e.Outcome != "" {
		h.counts[countKey{e.Type, e.Outcome}]++
	}
	if e.Type == SinkWrite {
		h.written += int64(e.Records)
	}
	return e
}

// Produced records the outcome of one produce attempt.
func (h *History) Produced(process string, id uint64, key string, o Outcome, region, topic string, partition int32, offset int64, err error) {
	e := Event{Type: Produce, Process: process, RecordID: id, Key: key, Outcome: o,
		Region: region, Topic: topic, Partition: partition, Offset: offset}
	if err != nil {
		e.Err = err.Error()
	}
	h.Append(e)
}

// Wrote records one object durably written by a sink.
func (h *History) Wrote(process, object string, records int, bytes int64) {
	h.Append(Event{Type: SinkWrite, Process: process, Object: object, Records: records, Bytes: bytes})
}

// FaultStarted records a nemesis starting on target.
func (h *History) FaultStarted(fault, target, text string) {
	h.Append(Event{Type: Fault, Process: "nemesis", Fault: fault, Phase: Start, Target: target, Text: text})
}

// FaultHealed records a nemesis healing on target.
func (h *History) FaultHealed(fault, target, text string) {
	h.Append(Event{Type: Fault, Process: "nemesis", Fault: fault, Phase: Heal, Target: target, Text: text})
}

// Sample records one metric value.
func (h *History) Sample(metric string, labels map[string]string, v float64) {
	h.Append(Event{Type: Metric, Metric: metric, Labels: labels, Value: v})
}

// Note records a line of narrative.
func (h *History) Note(process, text string) {
	h.Append(Event{Type: Note, Process: process, Text: text})
}

// Events returns a copy of every event so far, in append order. At scale
// this is the expensive way in (an Event is ~300 bytes): prefer Each,
// EachProduce, Filter on the small types, or Downsampled.
func (h *History) Events() []Event {
	var out []Event
	h.Each(func(e Event) bool { out = append(out, e); return true })
	return out
}

// Len is the number of events so far (samples merged away by a bounded
// series no longer count).
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.prod.n + h.series.len() + len(h.other)
}

// Filter returns the events of type t, in order.
func (h *History) Filter(t Type) []Event {
	var out []Event
	h.each(func(tt Type) bool { return tt == t }, 1, func(e Event) bool { out = append(out, e); return true })
	return out
}

// Each calls fn with every event in append order until fn returns false.
// It holds no lock while fn runs (fn may call the history).
func (h *History) Each(fn func(Event) bool) {
	h.each(func(Type) bool { return true }, 1, fn)
}

// Downsampled returns every event except produce outcomes, and of those
// at most about maxProduce, evenly spaced (every k-th), with k: each one
// kept stands for k. Reports draw a production-sized run from it; the
// counts (Count) stay exact. maxProduce ≤ 0 keeps every outcome (k = 1).
func (h *History) Downsampled(maxProduce int) (events []Event, every int) {
	h.mu.Lock()
	n := h.prod.n
	h.mu.Unlock()
	every = 1
	if maxProduce > 0 && n > maxProduce {
		every = (n + maxProduce - 1) / maxProduce
	}
	h.each(func(Type) bool { return true }, every, func(e Event) bool { events = append(events, e); return true })
	return events, every
}

// EachProduce calls fn with the record ID and outcome of every produce
// outcome in append order (the cheap walk the ledger needs).
func (h *History) EachProduce(fn func(id uint64, o Outcome)) {
	h.mu.Lock()
	snap := h.prod.snapshot()
	h.mu.Unlock()
	snap.each(1, func(e *Event) bool { fn(e.RecordID, e.Outcome); return true })
}

// Written is the number of records in the SinkWrite events so far.
func (h *History) Written() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.written
}

// Bytes is an estimate of the memory the history holds, for reports and
// for the scale limits.
func (h *History) Bytes() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.prod.bytes() + h.series.bytes() + int64(len(h.other))*int64(eventSize)
}

// each merges the three stores by sequence number, keeping the events
// whose type keep accepts and one produce outcome in every.
func (h *History) each(keep func(Type) bool, every int, fn func(Event) bool) {
	h.mu.Lock()
	var other []Event
	for _, e := range h.other {
		if keep(e.Type) {
			other = append(other, e)
		}
	}
	var samples []Event
	if keep(Metric) {
		samples = h.series.events()
	}
	var snap produceSnapshot
	wantProduce := keep(Produce)
	if wantProduce {
		snap = h.prod.snapshot()
	}
	h.mu.Unlock()
	if len(samples) > 0 {
		other = mergeBySeq(other, samples)
	}
	i := 0
	stopped := false
	if wantProduce {
		snap.each(every, func(p *Event) bool {
			for i < len(other) && other[i].Seq < p.Seq {
				if !fn(other[i]) {
					stopped = true
					return false
				}
				i++
			}
			if !fn(*p) {
				stopped = true
				return false
			}
			return true
		})
	}
	for ; !stopped && i < len(other); i++ {
		if !fn(other[i]) {
			return
		}
	}
}

// mergeBySeq merges two slices each ordered by Seq.
func mergeBySeq(a, b []Event) []Event {
	out := make([]Event, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0].Seq < b[0].Seq {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// FaultSpan is one fault from start to heal (Healed is zero if it never healed).
type FaultSpan struct {
	Fault   string
	Target  string
	Text    string
	Started time.Time
	Healed  time.Time
}

// Faults pairs fault start and heal events into spans, in start order.
func Faults(events []Event) []FaultSpan {
	var spans []FaultSpan
	open := map[string]int{}
	for _, e := range events {
		if e.Type != Fault {
			continue
		}
		k := e.Fault + "\x00" + e.Target
		switch e.Phase {
		case Start:
			open[k] = len(spans)
			spans = append(spans, FaultSpan{Fault: e.Fault, Target: e.Target, Text: e.Text, Started: e.At})
		case Heal:
			if i, ok := open[k]; ok {
				spans[i].Healed = e.At
				delete(open, k)
			}
		}
	}
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].Started.Before(spans[j].Started) })
	return spans
}

// Count is the number of events of type t (and, if o is not empty, with
// outcome o). It is cheap enough to poll: counts are kept as events arrive.
func (h *History) Count(t Type, o Outcome) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[countKey{t, o}]
}

// Peak is the largest value sampled for metric (summed over its label sets
// at each sampling instant is NOT done: each sample stands alone) and when.
func Peak(events []Event, metric string) (float64, time.Time) {
	var peak float64
	var at time.Time
	for _, e := range events {
		if e.Type == Metric && e.Metric == metric && (at.IsZero() || e.Value > peak) {
			peak, at = e.Value, e.At
		}
	}
	return peak, at
}
