package nemesis

import (
	"context"

	"github.com/pipechaos/pipechaos/harness/env"
)

// RegionOutage takes a whole Kafka region down (no broker answers) and
// brings it back with its data on heal.
type RegionOutage struct {
	Region string
}

func (n RegionOutage) Name() string   { return "region-outage" }
func (n RegionOutage) Target() string { return n.Region }
func (n RegionOutage) Describe() string {
	return "the whole " + n.Region + " region goes down: every broker stops answering"
}

func (n RegionOutage) Start(ctx context.Context, e env.Environment) error {
	r, err := region(e, n.Region)
	if err != nil {
		return err
	}
	return r.Stop(ctx)
}

func (n RegionOutage) Heal(ctx context.Context, e env.Environment) error {
	r, err := region(e, n.Region)
	if err != nil {
		return err
	}
	return r.Start(ctx)
}
