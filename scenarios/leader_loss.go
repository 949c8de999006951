package scenarios

import (
	"context"
	"fmt"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
)

// leaderLoss is the two faults of acks-durability on the primary region's
// broker node: cut from its peers (clients still reach it), then, with
// kill, killed. Healing the kill heals the cut first, so that the broker
// restarts into a region it can reach (a schedule heals newest first).
type leaderLoss struct {
	node int32
	kill bool
}

func (n leaderLoss) Name() string {
	if n.kill {
		return "broker-crash"
	}
	return "peer-partition"
}
func (n leaderLoss) Target() string { return fmt.Sprintf("%s/broker-%d", env.Primary, n.node) }
func (n leaderLoss) Describe() string {
	if n.kill {
		return fmt.Sprintf("%s broker %d, still cut from its peers, is killed", env.Primary, n.node)
	}
	return fmt.Sprintf("%s broker %d is cut from its peers (replication and controller traffic); clients still reach it", env.Primary, n.node)
}

func (n leaderLoss) peers(e env.Environment) (env.Region, env.PeerPartitioner, error) {
	r := e.Region(env.Primary)
	pp, ok := r.(env.PeerPartitioner)
	if !ok {
		return nil, nil, fmt.Errorf("cut a broker from its peers on the %s backend: %w", e.Backend(), env.ErrUnsupported)
	}
	return r, pp, nil
}

func (n leaderLoss) Start(ctx context.Context, e env.Environment) error {
	r, pp, err := n.peers(e)
	if err != nil {
		return err
	}
	if n.kill {
		return r.CrashBroker(ctx, n.node)
	}
	return pp.IsolateFromPeers(ctx, n.node)
}

func (n leaderLoss) Heal(ctx context.Context, e env.Environment) error {
	r, pp, err := n.peers(e)
	if err != nil {
		return err
	}
	if err := pp.HealPeers(ctx, n.node); err != nil || !n.kill {
		return err
	}
	return r.RestartBroker(ctx, n.node)
}

// checkAckedInKafka reads topic back from region and checks that Kafka
// still holds every acknowledged record, counted by ID (reorders and the
// copies Kafka holds are allowed). It logs how many it holds.
func checkAckedInKafka(ctx context.Context, r *harness.Run, region, topic string) (checker.Result, error) {
	audit, err := r.AuditTopic(ctx, region, topic)
	if err != nil {
		return checker.Result{}, err
	}
	c := checker.New(checker.LedgerFrom(r.History.Events()), checker.AllowReorder(), checker.MaxDuplicates(audit.Duplicates))
	for id, part := range audit.IDs {
		c.Record(checker.Found{ID: id, Partition: part})
	}
	res := c.Result()
	r.Logf("Kafka holds %d of the %d acknowledged records (read back after healing)", res.Acked-res.Lost, res.Acked)
	return res, nil
}

// dropKind removes the violations of one kind.
func dropKind(vs []checker.Violation, kind string) []checker.Violation {
	var out []checker.Violation
	for _, v := range vs {
		if v.Kind != kind {
			out = append(out, v)
		}
	}
	return out
}
