package nemesis

import (
	"context"
	"fmt"

	"github.com/pipechaos/pipechaos/harness/env"
)

// BrokerCrash kills one broker abruptly (its connections drop, its
// partitions move to the others) and restarts it on the same address with
// its data on heal.
type BrokerCrash struct {
	Region string
	Node   int32
}

func (n BrokerCrash) Name() string   { return "broker-crash" }
func (n BrokerCrash) Target() string { return fmt.Sprintf("%s/broker-%d", n.Region, n.Node) }
func (n BrokerCrash) Describe() string {
	return fmt.Sprintf("%s broker %d crashes; leadership of its partitions moves to the survivors", n.Region, n.Node)
}

func (n BrokerCrash) Start(ctx context.Context, e env.Environment) error {
	r, err := region(e, n.Region)
	if err != nil {
		return err
	}
	return r.CrashBroker(ctx, n.Node)
}

func (n BrokerCrash) Heal(ctx context.Context, e env.Environment) error {
	r, err := region(e, n.Region)
	if err != nil {
		return err
	}
	return r.RestartBroker(ctx, n.Node)
}
