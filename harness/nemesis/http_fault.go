package nemesis

import (
	"context"
	"fmt"
	"strings"

	"github.com/pipechaos/pipechaos/harness/env"
)

// Services an HTTPFault can target.
const (
	TargetStore    = "store"
	TargetRegistry = "registry"
)

// HTTPFault makes the store or the registry misbehave at the HTTP layer:
// error statuses (503 SlowDown, 500), latency, hung requests, dropped
// connections, for all or a share of requests, until heal.
type HTTPFault struct {
	Service string // TargetStore or TargetRegistry
	Fault   env.HTTPFault
}

func (n HTTPFault) Name() string   { return n.Service + "-fault" }
func (n HTTPFault) Target() string { return n.Service }
func (n HTTPFault) Describe() string {
	var parts []string
	f := n.Fault
	if f.Status != 0 {
		parts = append(parts, fmt.Sprintf("answers %d %s", f.Status, f.Code))
	}
	if f.Latency > 0 {
		parts = append(parts, fmt.Sprintf("adds %s latency", f.Latency))
	}
	if f.Hang {
		parts = append(parts, "hangs requests")
	}
	if f.Drop {
		parts = append(parts, "drops connections")
	}
	share := "every request"
	if f.Probability > 0 && f.Probability < 1 {
		share = fmt.Sprintf("%.0f%% of requests", f.Probability*100)
	}
	if len(f.Methods) > 0 {
		share += " (" + strings.Join(f.Methods, ",") + ")"
	}
	return fmt.Sprintf("the %s %s to %s", n.Service, strings.Join(parts, " and "), share)
}

func (n HTTPFault) faults(e env.Environment) (env.HTTPFaults, error) {
	switch n.Service {
	case TargetStore:
		return e.Store().Faults(), nil
	case TargetRegistry:
		return e.Registry().Faults(), nil
	}
	return nil, fmt.Errorf("unknown HTTP fault target %q: use %q or %q", n.Service, TargetStore, TargetRegistry)
}

func (n HTTPFault) Start(_ context.Context, e env.Environment) error {
	f, err := n.faults(e)
	if err != nil {
		return err
	}
	f.Inject(n.Fault)
	return nil
}

func (n HTTPFault) Heal(_ context.Context, e env.Environment) error {
	f, err := n.faults(e)
	if err != nil {
		return err
	}
	f.Heal()
	return nil
}
