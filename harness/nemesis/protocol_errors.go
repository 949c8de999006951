package nemesis

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/pipechaos/pipechaos/harness/env"
)

// ProtocolErrors makes a region answer matching Kafka requests with an error
// code (NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT, ...) until heal.
type ProtocolErrors struct {
	Region string
	Fault  env.ProtocolFault

	held held
}

func (n *ProtocolErrors) Name() string   { return "protocol-errors" }
func (n *ProtocolErrors) Target() string { return n.Region }
func (n *ProtocolErrors) Describe() string {
	name := fmt.Sprintf("error %d", n.Fault.ErrCode)
	if e := kerr.ErrorForCode(n.Fault.ErrCode); e != nil {
		name = e.Error()
	}
	return fmt.Sprintf("%s answers API key %d with %s", n.Region, n.Fault.Key, name)
}

func (n *ProtocolErrors) Start(ctx context.Context, e env.Environment) error {
	r, err := region(e, n.Region)
	if err != nil {
		return err
	}
	pf, ok := r.(env.ProtocolFaulter)
	if !ok {
		return fmt.Errorf("inject Kafka protocol errors on %s backend: %w", e.Backend(), env.ErrUnsupported)
	}
	heal, err := pf.InjectError(n.Fault)
	if err != nil {
		return err
	}
	n.held.hold(heal)
	return nil
}

func (n *ProtocolErrors) Heal(context.Context, env.Environment) error {
	n.held.release()
	return nil
}
