package nemesis

import (
	"context"
	"fmt"

	"github.com/pipechaos/pipechaos/harness/env"
)

// Partition cuts one broker off the network: live connections close and new
// ones are refused until heal. The broker itself keeps running.
type Partition struct {
	Region string
	Node   int32
}

func (n Partition) Name() string   { return "partition" }
func (n Partition) Target() string { return fmt.Sprintf("%s/broker-%d", n.Region, n.Node) }
func (n Partition) Describe() string {
	return fmt.Sprintf("%s broker %d is cut off the network (it still runs, nobody reaches it)", n.Region, n.Node)
}

func (n Partition) Start(ctx context.Context, e env.Environment) error {
	r, err := region(e, n.Region)
	if err != nil {
		return err
	}
	return r.Isolate(ctx, n.Node)
}

func (n Partition) Heal(ctx context.Context, e env.Environment) error {
	r, err := region(e, n.Region)
	if err != nil {
		return err
	}
	return r.Reconnect(ctx, n.Node)
}
