package explore

import (
	"math/rand"
)

// DefaultWorkload is the workload of an exploration run: small enough for a
// run to take a few seconds, big enough for several objects per partition.
var DefaultWorkload = Workload{Records: 1500, Partitions: 4, Rate: 1500}

// MaxSteps is the most steps a generated schedule has.
const MaxSteps = 3

// Generate draws a schedule from seed over the supported kinds, in two
// phases like FoundationDB's fault points: first which kinds are switched
// on for this run (each with probability 1/2, at least one), then the
// steps — each a switched-on kind with a trigger (an ack gate, a phase, a
// small delay) and a hold. Brokers are drawn among nodes.
func Generate(seed int64, supported []Kind, w Workload, nodes []int32) Schedule {
	rng := rand.New(rand.NewSource(seed))
	s := Schedule{Seed: seed, Workload: w}
	if len(supported) == 0 {
		return s
	}
	// Phase 1: which faults exist in this run at all.
	for _, k := range supported {
		if rng.Intn(2) == 0 {
			s.Enabled = append(s.Enabled, k)
		}
	}
	if len(s.Enabled) == 0 {
		s.Enabled = []Kind{supported[rng.Intn(len(supported))]}
	}
	// Phase 2: when each fires.
	n := 1 + rng.Intn(MaxSteps)
	for range n {
		k := s.Enabled[rng.Intn(len(s.Enabled))]
		info := kinds[k]
		st := Step{Fault: k}
		if isBrokerFault(k) && len(nodes) > 0 {
			st.Node = nodes[rng.Intn(len(nodes))]
		}
		if k == StoreLatency || k == SlowCommits {
			st.LatencyMS = 100 + 50*rng.Intn(7) // 100..400
		}
		st.Trigger = Trigger{Phase: Phases[rng.Intn(len(Phases))]}
		if st.Trigger.Phase != Drain {
			st.Trigger.AfterAcks = w.Records * (1 + rng.Intn(7)) / 10 // 10%..70%
		}
		if rng.Intn(3) == 0 {
			st.Trigger.DelayMS = 10 * (1 + rng.Intn(5))
		}
		lo, hi := info.hold[0], info.hold[1]
		st.HoldMS = lo + rng.Intn(hi-lo+1)
		st.HoldMS -= st.HoldMS % 10
		s.Steps = append(s.Steps, st)
	}
	return s
}
