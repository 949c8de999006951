package nemesis

import (
	"context"
	"fmt"
	"time"

	"github.com/pipechaos/pipechaos/harness/env"
)

// SlowRequests delays every request of one Kafka API (by key: 0 produce,
// 1 fetch, 8 offset commit, ...) in a region by Delay until heal.
type SlowRequests struct {
	Region string
	Key    int16
	Delay  time.Duration

	held held
}

func (n *SlowRequests) Name() string   { return "slow-requests" }
func (n *SlowRequests) Target() string { return n.Region }
func (n *SlowRequests) Describe() string {
	return fmt.Sprintf("%s delays every request with API key %d by %s", n.Region, n.Key, n.Delay)
}

func (n *SlowRequests) Start(ctx context.Context, e env.Environment) error {
	r, err := region(e, n.Region)
	if err != nil {
		return err
	}
	s, ok := r.(env.RequestSlower)
	if !ok {
		return fmt.Errorf("slow Kafka requests on %s backend: %w", e.Backend(), env.ErrUnsupported)
	}
	heal, err := s.SlowRequests(n.Key, n.Delay)
	if err != nil {
		return err
	}
	n.held.hold(heal)
	return nil
}

func (n *SlowRequests) Heal(context.Context, env.Environment) error {
	n.held.release()
	return nil
}
