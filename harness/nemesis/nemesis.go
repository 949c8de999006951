// Package nemesis holds the faults pipechaos injects. A Nemesis is one fault
// on one target with two methods, Start and Heal; one file per fault. When a
// fault happens, for how long, how often and with what probability is the
// Schedule's business, not the fault's (as in toxiproxy, where toxicity and
// direction live outside the toxic). Every start and heal is recorded in the
// history as an info event, so reports draw faults on the run's timeline.
//
// A fault a backend cannot perform returns an error wrapping
// env.ErrUnsupported; scenarios skip with that reason rather than pass.
package nemesis

import (
	"context"

	"github.com/pipechaos/pipechaos/harness/env"
)

// Nemesis is one fault on one target.
type Nemesis interface {
	// Name is the fault's kind, e.g. "broker-crash".
	Name() string
	// Target says what the fault hits, e.g. "primary/broker-1".
	Target() string
	// Start injects the fault.
	Start(ctx context.Context, e env.Environment) error
	// Heal removes it. Heal after a failed or missing Start is harmless.
	Heal(ctx context.Context, e env.Environment) error
}

// Describer is a Nemesis that can tell a reader what it does, for the
// narrative ("primary broker 1 killed; its partitions move").
type Describer interface {
	Describe() string
}

func describe(n Nemesis) string {
	if d, ok := n.(Describer); ok {
		return d.Describe()
	}
	return n.Name() + " on " + n.Target()
}

func region(e env.Environment, name string) (env.Region, error) {
	r := e.Region(name)
	if r == nil {
		return nil, errUnknownRegion(name)
	}
	return r, nil
}

type errUnknownRegion string

func (e errUnknownRegion) Error() string {
	return "unknown region " + string(e) + ": use " + env.Primary + " or " + env.Secondary
}
