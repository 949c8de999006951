package reports

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/history"
)

// SchemaVersion names the report.json schema documented in the package doc.
const SchemaVersion = "pipechaos.report/v1"

// Status is what a run came to.
type Status string

const (
	Passed        Status = "passed"
	BugReproduced Status = "bug-reproduced"
	Skipped       Status = "skipped"
	Errored       Status = "error"
	// Inconclusive: the run proved nothing (the fault never met the data,
	// a sample was never taken); Report.Inconclusive says why.
	Inconclusive Status = "inconclusive"
)

// Report is report.json: everything the HTML page shows, for tools.
type Report struct {
	Schema         string    `json:"schema"`
	Scenario       string    `json:"scenario"`
	Title          string    `json:"title,omitempty"`
	Story          string    `json:"story,omitempty"`
	Incident       int       `json:"incident,omitempty"`
	Fault          string    `json:"fault,omitempty"`
	Checks         string    `json:"checks,omitempty"`
	Variant        string    `json:"variant"`
	Backend        string    `json:"backend"`
	Seed           int64     `json:"seed"`
	Replay         string    `json:"replay"`
	Started        time.Time `json:"started"`
	ElapsedSeconds float64   `json:"elapsed_seconds"`
	Status         Status    `json:"status"`
	Expected       bool      `json:"expected"`
	Failure        string    `json:"failure"`
	Skipped        string    `json:"skipped"`
	Error          string    `json:"error"`
	Inconclusive   []string  `json:"inconclusive,omitempty"`
	// Expect is the consequence the scenario's buggy variant must show;
	// Consequences the classes of what this run found.
	Expect       string             `json:"expect,omitempty"`
	Consequences []string           `json:"consequences,omitempty"`
	Ledger       *Ledger            `json:"ledger"`
	Violations   []Violation        `json:"violations"`
	Faults       []Fault            `json:"faults"`
	Cost         Cost               `json:"cost"`
	Metrics      map[string]float64 `json:"metrics"`
	Events       EventCounts        `json:"events"`
	Timeline     Timeline           `json:"timeline"`
	Narrative    []Note             `json:"narrative"`
}

// Ledger is the checker's counts (Jepsen's total-queue ledger).
type Ledger struct {
	Verdict              string   `json:"verdict"`
	Attempted            int      `json:"attempted"`
	Acked                int      `json:"acked"`
	Failed               int      `json:"failed"`
	Indeterminate        int      `json:"indeterminate"`
	FoundRecords         int      `json:"found_records"`
	FoundUnique          int      `json:"found_unique"`
	Objects              int      `json:"objects"`
	Lost                 int      `json:"lost"`
	Duplicated           int      `json:"duplicated"`
	Unexpected           int      `json:"unexpected"`
	Reordered            int      `json:"reordered"`
	IndeterminateFound   int      `json:"indeterminate_found"`
	IndeterminateMissing int      `json:"indeterminate_missing"`
	Recovered            int      `json:"recovered"`
	CorruptObjects       []string `json:"corrupt_objects"`
}

// Violation is one problem found, by the checker or by the scenario.
type Violation struct {
	Source   string   `json:"source"` // "checker" or "scenario"
	Kind     string   `json:"kind"`
	Count    int      `json:"count"`
	FirstIDs []uint64 `json:"first_ids"`
	Detail   string   `json:"detail"`
	Allowed  bool     `json:"allowed"`
}

// Fault is one fault span.
type Fault struct {
	Fault           string   `json:"fault"`
	Target          string   `json:"target"`
	Text            string   `json:"text"`
	StartSeconds    float64  `json:"start_seconds"`
	HealSeconds     *float64 `json:"heal_seconds"`
	DurationSeconds float64  `json:"duration_seconds"`
}

// Cost is what the run cost the object store, and the retries it took.
type Cost struct {
	StoreRequests   int64              `json:"store_requests"`
	StoreBytesIn    int64              `json:"store_bytes_in"`
	StoreBytesOut   int64              `json:"store_bytes_out"`
	StoreErrors5xx  int64              `json:"store_errors_5xx"`
	Retries         int64              `json:"retries"`
	RetriesByMetric map[string]float64 `json:"retries_by_metric"`
	ProduceNotAcked int                `json:"produce_not_acked"`
	ObjectsWritten  int                `json:"objects_written"`
	RecordsWritten  int                `json:"records_written"`
	BytesWritten    int64              `json:"bytes_written"`
	MeanObjectBytes float64            `json:"mean_object_bytes"`
}

// EventCounts counts the history's events by type.
type EventCounts struct {
	Total     int `json:"total"`
	Produce   int `json:"produce"`
	SinkWrite int `json:"sink_write"`
	Fault     int `json:"fault"`
	Metric    int `json:"metric"`
	Note      int `json:"note"`
}

// Note is one line of the run's narrative.
type Note struct {
	AtSeconds float64 `json:"at_seconds"`
	Process   string  `json:"process"`
	Text      string  `json:"text"`
}

// maxNarrative bounds the narrative kept in a report.
const maxNarrative = 400

// Build makes the report of an outcome. s, if not nil, is the scenario that
// ran; its story and checks are included.
func Build(o harness.Outcome, s *harness.Scenario) Report {
	r := Report{
		Schema:         SchemaVersion,
		Scenario:       o.Scenario,
		Variant:        string(o.Variant),
		Backend:        o.Backend,
		Seed:           o.Seed,
		Replay:         o.Replay(),
		Started:        o.Started,
		ElapsedSeconds: o.Elapsed.Seconds(),
		Status:         statusOf(o),
		Expected:       o.Expected(),
		Failure:        o.Failure,
		Skipped:        o.Skipped,
		Error:          o.Error,
		Inconclusive:   o.Inconclusive,
		Expect:         string(o.Expect),
		Violations:     []Violation{},
		Faults:         []Fault{},
		Metrics:        map[string]float64{},
		Narrative:      []Note{},
	}
	if s != nil {
		r.Title, r.Story, r.Incident, r.Fault, r.Checks = s.Title, s.Story, s.Incident, s.Fault, s.Checks
	}
	for k, v := range o.Metrics {
		r.Metrics[k] = v
	}
	for _, c := range o.Consequences {
		r.Consequences = append(r.Consequences, string(c))
	}
	start := o.Started
	if start.IsZero() && len(o.Events) > 0 {
		start = o.Events[0].At
	}
	since := func(t time.Time) float64 { return t.Sub(start).Seconds() }

	if c := o.Check; c != nil {
		r.Ledger = &Ledger{
			Verdict: string(c.Verdict), Attempted: c.Attempted, Acked: c.Acked, Failed: c.Failed,
			Indeterminate: c.Indeterminate, FoundRecords: c.FoundRecords, FoundUnique: c.FoundUnique,
			Objects: c.Objects, Lost: c.Lost, Duplicated: c.Duplicated, Unexpected: c.Unexpected,
			Reordered: c.Reordered, IndeterminateFound: c.IndeterminateFound,
			IndeterminateMissing: c.IndeterminateMissing, Recovered: c.Recovered,
			CorruptObjects: append([]string{}, c.CorruptObjects...),
		}
		for _, v := range c.Violations {
			r.Violations = append(r.Violations, checkerViolation(v))
		}
	}
	for _, v := range o.Violations {
		r.Violations = append(r.Violations, Violation{Source: "scenario", Kind: "scenario", FirstIDs: []uint64{}, Detail: v})
	}

	end := o.Started.Add(o.Elapsed)
	for _, e := range o.Events {
		if e.At.After(end) {
			end = e.At
		}
	}
	for _, f := range history.Faults(o.Events) {
		rf := Fault{Fault: f.Fault, Target: f.Target, Text: f.Text, StartSeconds: since(f.Started)}
		stop := end
		if !f.Healed.IsZero() {
			h := since(f.Healed)
			rf.HealSeconds = &h
			stop = f.Healed
		}
		rf.DurationSeconds = stop.Sub(f.Started).Seconds()
		r.Faults = append(r.Faults, rf)
	}

	every := max(o.ProduceSampledEvery, 1) // each produce outcome kept stands for every
	r.Cost = costOf(o.Events, every)
	r.Events = countEvents(o.Events, every)
	r.Timeline = buildTimeline(o.Events, every, start, since(end))
	for _, e := range o.Events {
		if e.Type != history.Note || len(r.Narrative) >= maxNarrative {
			continue
		}
		r.Narrative = append(r.Narrative, Note{AtSeconds: since(e.At), Process: e.Process, Text: e.Text})
	}
	return r
}

func statusOf(o harness.Outcome) Status {
	switch {
	case o.Error != "":
		return Errored
	case o.Skipped != "":
		return Skipped
	case o.Verdict == checker.Unknown:
		return Inconclusive
	case o.Failure != "":
		return BugReproduced
	}
	return Passed
}

func checkerViolation(v checker.Violation) Violation {
	return Violation{Source: "checker", Kind: v.Kind, Count: v.Count, FirstIDs: append([]uint64{}, v.First...), Detail: v.Detail, Allowed: v.Allowed}
}

// costOf reads the cost side from the history: the store's counters (the
// last, i.e. largest, sample of each), the connectors' retry counters, and
// what the sink wrote.
// A produce outcome in events stands for every outcomes (a downsampled run).
func costOf(events []history.Event, every int) Cost {
	c := Cost{RetriesByMetric: map[string]float64{}}
	peak := map[string]float64{}
	for _, e := range events {
		switch e.Type {
		case history.Produce:
			if e.Outcome != history.Acked {
				c.ProduceNotAcked += every
			}
		case history.SinkWrite:
			c.ObjectsWritten++
			c.RecordsWritten += e.Records
			c.BytesWritten += e.Bytes
		case history.Metric:
			k := seriesKey(e.Metric, e.Labels)
			if e.Value > peak[k] {
				peak[k] = e.Value
			}
			switch e.Metric {
			case "store_requests":
				c.StoreRequests = max(c.StoreRequests, int64(e.Value))
			case "store_bytes_in":
				c.StoreBytesIn = max(c.StoreBytesIn, int64(e.Value))
			case "store_bytes_out":
				c.StoreBytesOut = max(c.StoreBytesOut, int64(e.Value))
			case "store_errors_5xx":
				c.StoreErrors5xx = max(c.StoreErrors5xx, int64(e.Value))
			}
			if strings.Contains(e.Metric, "retries") && !strings.Contains(e.Metric, "budget") {
				c.RetriesByMetric[k] = peak[k]
			}
		}
	}
	for _, v := range c.RetriesByMetric {
		c.Retries += int64(v)
	}
	if c.ObjectsWritten > 0 {
		c.MeanObjectBytes = float64(c.BytesWritten) / float64(c.ObjectsWritten)
	}
	return c
}

func countEvents(events []history.Event, every int) EventCounts {
	var n EventCounts
	for _, e := range events {
		n.Total++
		switch e.Type {
		case history.Produce:
			n.Produce += every
			n.Total += every - 1
		case history.SinkWrite:
			n.SinkWrite++
		case history.Fault:
			n.Fault++
		case history.Metric:
			n.Metric++
		case history.Note:
			n.Note++
		}
	}
	return n
}

// seriesKey names a metric with its labels: name{k=v,…}.
func seriesKey(name string, labels map[string]string) string {
	if len(labels) == 0 {
		return name
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%s", k, labels[k])
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}
