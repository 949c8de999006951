package harness

import (
	"errors"
	"fmt"

	"github.com/pipechaos/pipechaos/harness/checker"
)

// Consequence is the class of harm a finding shows. Each incident names the
// one its buggy variant must show (Scenario.Consequence): a buggy run is a
// reproduction of the incident only if a finding of that class is among
// its findings. A buggy run caught by anything else is not a catch.
type Consequence string

// The consequence classes (see the table in README.md).
const (
	// Lost: acknowledged records that never reached where they must be.
	Lost Consequence = "lost"
	// Duplicated: extra copies of records (in the bucket or in Kafka).
	Duplicated Consequence = "duplicated"
	// Reordered: records of a key out of produce order.
	Reordered Consequence = "reordered"
	// Unexpected: records found that were never produced.
	Unexpected Consequence = "unexpected"
	// Corrupt: objects that cannot be read back.
	Corrupt Consequence = "corrupt"
	// NotDrained: a consumer group that never caught up (the pipeline
	// stopped or stalled while records waited in Kafka).
	NotDrained Consequence = "not drained"
	// Stale: a partition whose data stopped being fresh.
	Stale Consequence = "stale"
	// OverBudget: a resource (memory) used beyond its declared budget.
	OverBudget Consequence = "over budget"
	// Churn: a group that kept rebalancing or lost members.
	Churn Consequence = "churn"
	// Misrouted: records written under the wrong route.
	Misrouted Consequence = "misrouted"
	// DeadLettered: good records sent to dead-letter objects.
	DeadLettered Consequence = "dead-lettered"
	// Skewed: one partition holding most of the work.
	Skewed Consequence = "skewed"
	// Other: any finding a scenario did not classify.
	Other Consequence = "other"
)

// consequenceOf is the class of a checker violation kind.
func consequenceOf(kind string) Consequence {
	switch kind {
	case checker.Lost, checker.Empty:
		return Lost
	case checker.Duplicated:
		return Duplicated
	case checker.Reordered:
		return Reordered
	case checker.Unexpected:
		return Unexpected
	case checker.Corrupt:
		return Corrupt
	}
	return Other
}

// ErrInconclusive is wrapped by the error of a run that could not prove
// anything (the fault never met the data, a sample was never taken): its
// verdict is Unknown, never a pass and never a catch. Return
// Inconclusive(...) from Scenario.Run, or call Run.Inconclusive and go on.
var ErrInconclusive = errors.New("inconclusive")

// Inconclusive is an error wrapping ErrInconclusive with the reason.
func Inconclusive(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInconclusive, fmt.Sprintf(format, args...))
}
