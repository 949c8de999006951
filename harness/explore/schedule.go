package explore

import (
	"fmt"
	"strings"
	"time"
)

// Workload is what the producer sends during a run.
type Workload struct {
	Records    int     `json:"records"`
	Partitions int32   `json:"partitions"`
	Rate       float64 `json:"rate"` // records per second; 0: as fast as acked
}

func (w Workload) validate() error {
	var errs []string
	if w.Records <= 0 {
		errs = append(errs, fmt.Sprintf("records must be positive (got %d)", w.Records))
	}
	if w.Partitions <= 0 {
		errs = append(errs, fmt.Sprintf("partitions must be positive (got %d)", w.Partitions))
	}
	if w.Rate < 0 {
		errs = append(errs, fmt.Sprintf("rate cannot be negative (got %g)", w.Rate))
	}
	if len(errs) > 0 {
		return fmt.Errorf("workload: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Phase is a pipeline phase a trigger waits for and a fault lands in.
type Phase string

const (
	// Acks: the workload is flowing (the trigger's AfterAcks gate alone).
	Acks Phase = "acks"
	// PutInFlight: the store has received a PUT it has not answered yet.
	PutInFlight Phase = "put-in-flight"
	// PutUncommitted: a PUT returned 2xx and the group's committed offset of
	// its partition has not moved past the object's start: between a PUT
	// and its commit.
	PutUncommitted Phase = "put-uncommitted"
	// CommitAhead: a PUT is in flight for records the group already
	// committed past: between a commit and its PUT.
	CommitAhead Phase = "commit-before-put"
	// Rebalance: the group is not stable (joining, syncing) or its
	// generation changed in the last moments.
	Rebalance Phase = "rebalance"
	// Drain: the workload has ended and the group still has lag.
	Drain Phase = "drain"
)

// Phases are the phases a coverage matrix shows, in order.
var Phases = []Phase{Acks, PutInFlight, PutUncommitted, CommitAhead, Rebalance, Drain}

// phaseText says what a phase means in a sentence.
func phaseText(p Phase) string {
	switch p {
	case Acks:
		return "while records were being acked"
	case PutInFlight:
		return "while a PUT was in flight"
	case PutUncommitted:
		return "between a PUT and its commit"
	case CommitAhead:
		return "between a commit and its PUT"
	case Rebalance:
		return "during a rebalance"
	case Drain:
		return "during the drain"
	}
	return string(p)
}

// Trigger is when a step fires: once at least AfterAcks records are acked
// and Phase holds, then Delay later.
type Trigger struct {
	Phase     Phase `json:"phase"`
	AfterAcks int   `json:"after_acks,omitempty"`
	DelayMS   int   `json:"delay_ms,omitempty"`
}

func (t Trigger) String() string {
	var parts []string
	if t.AfterAcks > 0 {
		parts = append(parts, fmt.Sprintf("after %d acks", t.AfterAcks))
	}
	if t.Phase != Acks {
		parts = append(parts, phaseText(t.Phase))
	}
	if len(parts) == 0 {
		parts = append(parts, "at once")
	}
	s := strings.Join(parts, ", ")
	if t.DelayMS > 0 {
		s = fmt.Sprintf("%d ms %s", t.DelayMS, s)
	}
	return s
}

// Step is one fault of a schedule.
type Step struct {
	Fault Kind `json:"fault"`
	// Node is the broker a broker fault targets.
	Node int32 `json:"node,omitempty"`
	// LatencyMS is the latency of a store-latency or slow-commit fault.
	LatencyMS int     `json:"latency_ms,omitempty"`
	Trigger   Trigger `json:"trigger"`
	// HoldMS is how long the fault lasts before it heals (for a kill: how
	// long the sink stays down).
	HoldMS int `json:"hold_ms"`
}

func (s Step) hold() time.Duration { return time.Duration(s.HoldMS) * time.Millisecond }

// String is the step on one line.
func (s Step) String() string {
	return fmt.Sprintf("%s %s, for %d ms", describeFault(s), s.Trigger, s.HoldMS)
}

// Schedule is one run's workload and faults.
type Schedule struct {
	Seed     int64    `json:"seed"`
	Workload Workload `json:"workload"`
	// Enabled are the fault kinds switched on for the run (the first draw).
	Enabled []Kind `json:"enabled,omitempty"`
	Steps   []Step `json:"steps"`
}

// String lists the steps, one per line.
func (s Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %d records at %g/s over %d partitions", s.Seed, s.Workload.Records, s.Workload.Rate, s.Workload.Partitions)
	for i, st := range s.Steps {
		fmt.Fprintf(&b, "\n  %d. %s", i+1, st)
	}
	return b.String()
}

func (s Schedule) clone() Schedule {
	c := s
	c.Enabled = append([]Kind(nil), s.Enabled...)
	c.Steps = append([]Step(nil), s.Steps...)
	return c
}

// Validate reports what is wrong with a schedule (one read from a file, say).
func (s Schedule) Validate() error {
	if err := s.Workload.validate(); err != nil {
		return err
	}
	for i, st := range s.Steps {
		if _, ok := kinds[st.Fault]; !ok {
			return fmt.Errorf("step %d: unknown fault %q: use one of %s", i+1, st.Fault, strings.Join(kindNames(), ", "))
		}
		if !validPhase(st.Trigger.Phase) {
			return fmt.Errorf("step %d: unknown trigger phase %q: use one of %v", i+1, st.Trigger.Phase, Phases)
		}
		if st.HoldMS < 0 || st.Trigger.DelayMS < 0 || st.Trigger.AfterAcks < 0 || st.LatencyMS < 0 {
			return fmt.Errorf("step %d: durations and counts cannot be negative", i+1)
		}
	}
	return nil
}

func validPhase(p Phase) bool {
	for _, x := range Phases {
		if x == p {
			return true
		}
	}
	return false
}
