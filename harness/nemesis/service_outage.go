package nemesis

import (
	"context"
	"fmt"

	"github.com/pipechaos/pipechaos/harness/env"
)

// ServiceOutage stops the store or the registry process: connections are
// refused until heal brings it back on the same address with its data.
type ServiceOutage struct {
	Service string // TargetStore or TargetRegistry
}

func (n ServiceOutage) Name() string   { return n.Service + "-outage" }
func (n ServiceOutage) Target() string { return n.Service }
func (n ServiceOutage) Describe() string {
	return "the " + n.Service + " goes down: connections are refused"
}

type stopStarter interface {
	Stop(context.Context) error
	Start(context.Context) error
}

func (n ServiceOutage) service(e env.Environment) (stopStarter, error) {
	switch n.Service {
	case TargetStore:
		return e.Store(), nil
	case TargetRegistry:
		return e.Registry(), nil
	}
	return nil, fmt.Errorf("unknown service %q: use %q or %q", n.Service, TargetStore, TargetRegistry)
}

func (n ServiceOutage) Start(ctx context.Context, e env.Environment) error {
	s, err := n.service(e)
	if err != nil {
		return err
	}
	return s.Stop(ctx)
}

func (n ServiceOutage) Heal(ctx context.Context, e env.Environment) error {
	s, err := n.service(e)
	if err != nil {
		return err
	}
	return s.Start(ctx)
}
