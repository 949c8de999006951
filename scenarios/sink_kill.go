package scenarios

// The kill points of sink-crash: where, in a sink's work, a kill -9 lands.
// Each waits for its moment from outside — the store holding a PUT, the
// store having answered a PUT whose commit the coordinator refuses, the
// coordinator rebalancing the group — kills the running instance, and says
// whether the moment came (a kill that never met the data proves nothing).

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/nemesis"
	"github.com/pipechaos/pipechaos/harness/sut"
)

// killPoint is one moment at which sink-crash kills the sink.
type killPoint string

const (
	midPut       killPoint = "mid-PUT"
	beforeCommit killPoint = "between a PUT and its commit"
	inRebalance  killPoint = "during a rebalance"
)

// momentWait is how long a kill point waits for its moment. After a kill
// the group first waits out the dead member's session and rebalances, and
// the restarted instance joins and fetches before it PUTs again: on a
// loaded 2-core machine that took more than 5 s.
const momentWait = 15 * time.Second

// killer kills the supervised sink of a run at kill points.
type killer struct {
	r     *harness.Run
	sv    *supervised
	admin *kadm.Client
	group string
	// prefix is where the sink writes its objects.
	prefix string
	// others are the members join started; sigkill kills them too, for
	// good (the supervisor restarts only its own).
	others func() []*runningSink
	// join starts another member of the group (for inRebalance).
	join func() error
}

// schedule kills the sink at every kill point, the rebalance first (it
// brings two more members: every later kill kills every member, so the PUT
// the store holds or answered is a killed one's), then the other two in
// seeded order; kill point i waits for first+every*i (plus up to 500)
// acked records. What it sends is why each kill point that never met the
// data missed.
func (k *killer) schedule(ctx context.Context, first, every int) <-chan []string {
	r := k.r
	points := []killPoint{midPut, beforeCommit}
	r.Rand().Shuffle(len(points), func(i, j int) { points[i], points[j] = points[j], points[i] })
	points = append([]killPoint{inRebalance}, points...)
	r.Logf("kill points in seeded order: %v", points)
	met := make(chan []string, 1)
	go func() {
		var missed []string
		for i, kp := range points {
			at := first + every*i + r.Rand().Intn(500)
			if nemesis.AfterAcked(r.History, at)(ctx) != nil {
				break
			}
			if text, ok := k.kill(ctx, kp); !ok {
				missed = append(missed, string(kp)+": "+text)
			}
		}
		met <- missed
	}()
	return met
}

// kill waits for the moment of kp and kills the running instance then. It
// returns what the kill met, or why the moment never came.
func (k *killer) kill(ctx context.Context, kp killPoint) (string, bool) {
	switch kp {
	case midPut:
		return k.midPut(ctx)
	case beforeCommit:
		return k.beforeCommit(ctx)
	case inRebalance:
		return k.inRebalance(ctx)
	}
	return "unknown kill point " + string(kp), false
}

// sigkill kills the running instance and records it as a fault.
func (k *killer) sigkill(kp killPoint, what string) string {
	pid := 0
	if p := k.sv.currentProcess(); p != nil {
		pid = p.PID()
	}
	text := fmt.Sprintf("kill -9 of sink instance %d (pid %d) %s: %s", k.sv.Instances(), pid, kp, what)
	k.r.History.FaultStarted("sink-kill", k.group, text)
	if kp != inRebalance {
		for _, o := range k.others() {
			if ps, ok := o.Sink.(*sut.Sink); ok {
				_ = ps.Kill()
			}
		}
	}
	k.sv.kill()
	k.r.History.FaultHealed("sink-kill", k.group, "the supervisor restarts the sink in the same group")
	return text
}

// midPut holds every PUT at the store for 2s and kills the sink while the
// store holds one of its PUTs.
func (k *killer) midPut(ctx context.Context) (string, bool) {
	faults := k.r.Env.Store().Faults()
	faults.Inject(env.HTTPFault{Latency: 2 * time.Second, Methods: []string{http.MethodPut}})
	defer faults.Heal()
	base := faults.Stats().Faulted
	if !waitUntil(ctx, momentWait, func() bool { return faults.Stats().Faulted > base }) {
		return "no PUT reached the store within " + momentWait.String(), false
	}
	return k.sigkill(midPut, "the store was holding one of its PUTs"), true
}

// beforeCommit makes the coordinator refuse every offset commit
// (UNKNOWN_SERVER_ERROR) and kills the sink once the store has answered a
// PUT since: that object is written and its offsets cannot be committed.
func (k *killer) beforeCommit(ctx context.Context) (string, bool) {
	pf, ok := k.r.Env.Region(env.Primary).(env.ProtocolFaulter)
	if !ok {
		return "this backend cannot refuse offset commits", false
	}
	heal, err := pf.InjectError(env.ProtocolFault{Key: 8, ErrCode: -1, Count: -1})
	if err != nil {
		return "refuse offset commits: " + err.Error(), false
	}
	defer heal()
	before, err := bucketKeys(ctx, k.r, k.prefix)
	if err != nil {
		return "list the bucket: " + err.Error(), false
	}
	var obj string
	if !waitUntil(ctx, momentWait, func() bool {
		now, _ := bucketKeys(ctx, k.r, k.prefix)
		for key := range now {
			if !before[key] {
				obj = key
				return true
			}
		}
		return false
	}) {
		return "no new object reached the bucket within " + momentWait.String() + " of the commits being refused", false
	}
	return k.sigkill(beforeCommit, "object "+obj+" was written after the coordinator began refusing commits"), true
}

// inRebalance lets a second member join and the group settle (the first
// member revokes the partitions it hands over: a sink that loses what it
// buffered then has lost it), then lets a third join and kills the first
// while the coordinator is rebalancing the group.
func (k *killer) inRebalance(ctx context.Context) (string, bool) {
	// A member that joins before the first one has finished joining is
	// part of the group's first rebalance, not a second one.
	if seen, ok := k.waitState(ctx, 2*momentWait, func(s string) bool { return s == "Stable" }); !ok {
		return "the group was not Stable before a second member joined (states seen: " + seen + ")", false
	}
	for i, kill := range []bool{false, true} {
		if err := k.join(); err != nil {
			return "start another member: " + err.Error(), false
		}
		var state string
		if seen, ok := k.waitState(ctx, momentWait, func(s string) bool { state = s; return rebalancing(s) }); !ok {
			return fmt.Sprintf("the group did not rebalance within %s of member %d joining (states seen: %s)", momentWait, i+2, seen), false
		}
		if kill {
			return k.sigkill(inRebalance, fmt.Sprintf("member %d had joined and the group was %s", i+2, state)), true
		}
		if seen, ok := k.waitState(ctx, 2*momentWait, func(s string) bool { return s == "Stable" }); !ok {
			return "the group did not settle after a second member joined (states seen: " + seen + ")", false
		}
	}
	return "", false
}

// waitState polls the group's state as its coordinator describes it until
// cond holds, for at most d; when it never does, seen lists the distinct
// states (and errors) the coordinator answered meanwhile.
func (k *killer) waitState(ctx context.Context, d time.Duration, cond func(string) bool) (seen string, ok bool) {
	var states []string
	ok = waitUntil(ctx, d, func() bool {
		state := groupState(ctx, k.admin, k.group)
		if state == "" {
			state = "no answer"
		}
		if !slices.Contains(states, state) {
			states = append(states, state)
		}
		return cond(state)
	})
	return strings.Join(states, ", "), ok
}

// bucketKeys lists the object keys under prefix in the run's bucket.
func bucketKeys(ctx context.Context, r *harness.Run, prefix string) (map[string]bool, error) {
	cl, err := harness.StoreClient(r.Env.Store())
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	for o := range cl.ListObjectsIter(ctx, r.Env.Store().Bucket(), minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return keys, o.Err
		}
		keys[o.Key] = true
	}
	return keys, nil
}

// groupState is the group's state as its coordinator describes it, by
// either group protocol ("" if it did not answer within 500ms).
func groupState(ctx context.Context, adm *kadm.Client, group string) string {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	state, _ := describeGroup(ctx, adm, group)
	return state
}

// rebalancing says whether a group in state is being rebalanced: a
// classic group preparing or completing one, or a KIP-848 consumer group
// assigning or reconciling partitions.
func rebalancing(state string) bool {
	switch state {
	case "PreparingRebalance", "CompletingRebalance", "Assigning", "Reconciling":
		return true
	}
	return false
}

// waitUntil polls cond every 5ms for at most d.
func waitUntil(ctx context.Context, d time.Duration, cond func() bool) bool {
	return pollUntil(ctx, d, 5*time.Millisecond, cond)
}

// pollUntil checks cond every interval until it holds (true) or d or ctx
// ends (false).
func pollUntil(ctx context.Context, d, every time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(every):
		}
	}
	return true
}
