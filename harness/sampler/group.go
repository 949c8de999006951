package sampler

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Group sample names.
const (
	// GroupMember is one sample per member the coordinator lists, labelled
	// "group" and "member" (its member ID). A member the coordinator
	// removed comes back under a new ID.
	GroupMember = "group_member"
	// GroupMembers is how many members the coordinator lists.
	GroupMembers = "group_members"
	// GroupRebalances is a running count of the rebalances the coordinator
	// showed: each sample at which the group's members differ from the
	// sample before (a member joined or left: that starts a rebalance), or
	// the group is seen rebalancing (PreparingRebalance,
	// CompletingRebalance) after being stable, or is stable with another
	// assignment than at the stable sample before; at most one per sample.
	GroupRebalances = "group_rebalances"
)

// Group samples a consumer group as its coordinator describes it
// (DescribeGroups through cl, which the caller owns): GroupMember,
// GroupMembers and GroupRebalances, each labelled "group". This is how the
// harness learns about membership and rebalances: from Kafka, never from
// the members' own metrics. A rebalance that starts and ends between two
// samples with the same assignment is not seen, so GroupRebalances is a
// lower bound at the sampling period.
func Group(cl *kgo.Client, group string) Probe {
	adm := kadm.NewClient(cl)
	var (
		count       int
		rebalancing bool
		members     string // the member IDs at the sample before
		last        string // the assignment at the last stable sample
	)
	labels := map[string]string{"group": group}
	return func(ctx context.Context, emit Emit) {
		ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		gs, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return
		}
		g, ok := gs[group]
		if !ok || g.Err != nil {
			return
		}
		ids := memberIDs(g)
		changed := members != "" && ids != members
		members = ids
		switch g.State {
		case "PreparingRebalance", "CompletingRebalance":
			changed = changed || !rebalancing
			rebalancing = true
		case "Stable":
			a := assignment(g)
			changed = changed || (!rebalancing && last != "" && a != last)
			rebalancing, last = false, a
		}
		if changed {
			count++
		}
		for _, m := range g.Members {
			emit(GroupMember, map[string]string{"group": group, "member": m.MemberID}, 1)
		}
		emit(GroupMembers, labels, float64(len(g.Members)))
		emit(GroupRebalances, labels, float64(count))
	}
}

// memberIDs is a stable rendering of the group's member IDs.
func memberIDs(g kadm.DescribedGroup) string {
	ids := make([]string, 0, len(g.Members))
	for _, m := range g.Members {
		ids = append(ids, m.MemberID)
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// assignment is a stable rendering of who holds which partitions.
func assignment(g kadm.DescribedGroup) string {
	var parts []string
	for _, m := range g.Members {
		c, ok := m.Assigned.AsConsumer()
		if !ok {
			continue
		}
		for _, t := range c.Topics {
			ps := slices.Clone(t.Partitions)
			slices.Sort(ps)
			parts = append(parts, fmt.Sprintf("%s:%s:%v", m.MemberID, t.Topic, ps))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ";")
}
