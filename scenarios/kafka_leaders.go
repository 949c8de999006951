package scenarios

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
)

// partitionLeaders reads, from the region's own metadata, the leader and
// ISR of every partition of topic: who Kafka elected, not who the harness
// expected.
func partitionLeaders(ctx context.Context, r *harness.Run, region, topic string) (kadm.PartitionDetails, error) {
	cl, err := r.Env.Region(region).Client()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("metadata of %s in %s: %w", topic, region, err)
	}
	td := md.Topics[topic]
	if td.Err != nil {
		return nil, fmt.Errorf("metadata of %s in %s: %w", topic, region, td.Err)
	}
	return td.Partitions, nil
}

// describeLeaders phrases partitions' leaders and ISRs for the narrative,
// marking the leaders that differ from before (nil: no comparison).
func describeLeaders(now, before kadm.PartitionDetails) string {
	var parts []string
	for _, p := range now.Sorted() {
		s := fmt.Sprintf("p%d leader %d ISR %v", p.Partition, p.Leader, p.ISR)
		if b, ok := before[p.Partition]; ok && b.Leader != p.Leader {
			s += fmt.Sprintf(" (was %d: elected by Kafka)", b.Leader)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// narrateLeaders logs the leaders and ISRs of topic in the primary region
// when its partitions are really replicated (on kfake there is no election
// to tell), marking the leaders elected since before; it returns what it read.
func narrateLeaders(ctx context.Context, r *harness.Run, when, topic string, before kadm.PartitionDetails) kadm.PartitionDetails {
	if _, ok := r.Env.Region(env.Primary).(env.Replicated); !ok {
		return nil
	}
	now, err := partitionLeaders(ctx, r, env.Primary, topic)
	if err != nil {
		r.Logf("%s: leaders unknown: %v", when, err)
		return nil
	}
	r.Logf("%s: %s", when, describeLeaders(now, before))
	return now
}
