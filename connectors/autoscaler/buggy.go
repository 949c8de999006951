package autoscaler

// Lag is the policy of incident 3 ("Rebalance storm from lag-based
// autoscaling"), as the KEDA ScaledObject of the incident computed it: the
// desired number of workers is the group's lag divided by a per-worker lag
// threshold (100 in production), and the pool moves one worker toward it at
// every evaluation, up to 5.
//
// It works while traffic is calm: lag stays under the threshold and one
// worker consumes everything. Then traffic spikes, lag passes the threshold,
// and the policy adds a worker. Adding a worker is a group rebalance: every
// member (with the eager protocol the deployment used) gives up all its
// partitions, flushes and commits, and nobody consumes until the group has
// a new assignment. Lag grows faster than ever, so the policy adds another
// worker, which rebalances the group again; when consumption finally
// catches up, lag falls under the threshold, the policy removes a worker,
// which is another rebalance, lag grows again... The connector of the
// incident spent the spike rebalancing and processed almost nothing.
//
// The defect is the line marked below: it scales a consumer group on the one
// signal that scaling itself drives. The fix (Throughput) scales on the rate
// the workers sustain, with hysteresis and a cooldown longer than a
// rebalance, and the pool it runs in uses cooperative rebalancing and
// generous session timeouts.
type Lag struct {
	// Threshold is the lag one worker is expected to carry. Default 100.
	Threshold int64
}

// Desired is ceil(lag / Threshold), at most one worker away from now.
func (p *Lag) Desired(s Signals) int {
	threshold := or(p.Threshold, 100)
	if s.Lag < 0 || s.Workers <= 0 {
		return max(s.Workers, 1)
	}
	want := int((s.Lag + threshold - 1) / threshold) // DEFECT: lag is caused by the rebalances this decision triggers
	switch {
	case want > s.Workers:
		return s.Workers + 1
	case want < s.Workers:
		return s.Workers - 1
	}
	return s.Workers
}
