package scenarios

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/nemesis"
)

// How poll-timeout learns, from outside the sinks, whether the rebalance
// the second member provoked met a write the store held: the coordinator
// says when the rebalance began and when it settled (DescribeGroups), the
// store's fault layer says which PUTs it held and when each one ended.

// heldWrites is the store's log of the PUTs its active fault held.
type heldWrites struct {
	st   env.Store
	base int64 // the layer's faulted count when the watch began
	stop func()

	mu    sync.Mutex
	spans []heldSpan
}

type heldSpan struct {
	start, end time.Time
	abandoned  bool // the client went away before an answer
}

// watchHeldWrites records every faulted PUT the store's layer completes;
// ok is false if the backend's store cannot be observed.
func watchHeldWrites(st env.Store) (*heldWrites, bool) {
	obs, ok := st.Faults().(env.HTTPObserver)
	if !ok {
		return nil, false
	}
	h := &heldWrites{st: st, base: st.Faults().Stats().Faulted}
	h.stop = obs.Observe(func(x env.HTTPExchange) {
		if !x.Faulted || x.Method != http.MethodPut {
			return
		}
		h.mu.Lock()
		h.spans = append(h.spans, heldSpan{start: x.Start, end: x.End, abandoned: x.Status == 0})
		h.mu.Unlock()
	})
	return h, true
}

// complete waits (up to 10s) until every PUT the fault held has ended and
// been logged: a held request released by the heal still goes on to the
// store before its exchange is complete.
func (h *heldWrites) complete(ctx context.Context) bool {
	return pollUntil(ctx, 10*time.Second, 10*time.Millisecond, func() bool {
		h.mu.Lock()
		n := int64(len(h.spans))
		h.mu.Unlock()
		return n >= h.st.Faults().Stats().Faulted-h.base
	})
}

// across says whether a held PUT was in flight at t and either stayed held
// for d after it or was given up by its writer after t: the write met
// whatever began at t.
func (h *heldWrites) across(t time.Time, d time.Duration) (met bool, inFlight int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.spans {
		if s.start.After(t) || s.end.Before(t) {
			continue
		}
		inFlight++
		met = met || !s.end.Before(t.Add(d)) || s.abandoned
	}
	return met, inFlight
}

// rebalanceWatch follows the group at its coordinator from just before a
// member joins until the rebalance that join starts has settled.
type rebalanceWatch struct {
	mu      sync.Mutex
	before  string    // the member IDs before the join
	began   time.Time // the first sample after the join that was not the old stable group
	settled time.Time // the first stable sample after that with other members
	changed chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

func newRebalanceWatch() *rebalanceWatch {
	return &rebalanceWatch{changed: make(chan struct{}, 1)}
}

// start samples the group now, as it is before the join, then every 50ms
// until the rebalance settled or ctx ends.
func (w *rebalanceWatch) start(ctx context.Context, cl *kgo.Client, group string) {
	adm := kadm.NewClient(cl)
	_, before := describeMembers(ctx, adm, group)
	ctx, cancel := context.WithCancel(ctx)
	w.mu.Lock()
	w.before, w.cancel, w.done = before, cancel, make(chan struct{})
	w.mu.Unlock()
	go func() {
		defer close(w.done)
		pollUntil(ctx, time.Hour, 50*time.Millisecond, func() bool {
			dctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			state, ids := describeMembers(dctx, adm, group)
			cancel()
			return w.observe(time.Now(), state, ids)
		})
	}()
}

// observe takes one sample and says whether the rebalance has settled.
func (w *rebalanceWatch) observe(at time.Time, state, ids string) bool {
	if state == "" {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	stable := state == "Stable"
	if w.began.IsZero() && (!stable || ids != w.before) {
		w.began = at
	}
	if !w.began.IsZero() && stable && ids != w.before {
		w.settled = at
	}
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return !w.settled.IsZero()
}

// times are when the rebalance began and settled (zero if not seen).
func (w *rebalanceWatch) times() (began, settled time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.began, w.settled
}

// wait returns once the rebalance settled and at least hold has passed
// since it began, or after giveUp, or when ctx ends. A watch never started
// waits the whole giveUp.
func (w *rebalanceWatch) wait(ctx context.Context, hold, giveUp time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, giveUp)
	defer cancel()
	for {
		began, settled := w.times()
		if !settled.IsZero() {
			select {
			case <-time.After(time.Until(began.Add(hold))):
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return nil // given up: the run is judged inconclusive
			}
			return ctx.Err()
		}
	}
}

// stop ends the watch and waits for its goroutine, if it was started.
func (w *rebalanceWatch) stop() {
	w.mu.Lock()
	cancel, done := w.cancel, w.done
	w.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// describeMembers is the group's state and its sorted member IDs, by
// either group protocol ("" if neither knows it).
func describeMembers(ctx context.Context, adm *kadm.Client, group string) (state, ids string) {
	gs, err := adm.DescribeGroups(ctx, group)
	if g, ok := gs[group]; err == nil && ok && g.Err == nil && len(g.Members) > 0 {
		return g.State, sortedIDs(len(g.Members), func(i int) string { return g.Members[i].MemberID })
	}
	cgs, err := adm.DescribeConsumerGroups(ctx, group)
	if g, ok := cgs[group]; err == nil && ok && g.Err == nil {
		return g.State, sortedIDs(len(g.Members), func(i int) string { return g.Members[i].MemberID })
	}
	return "", ""
}

func sortedIDs(n int, id func(int) string) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = id(i)
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// pollSettleWait is how long, after the workload is acked, the store stays
// slow for a rebalance that has not settled yet.
const pollSettleWait = 15 * time.Second

// healAfterRebalance heals the store latency once every record is acked,
// the rebalance the second member started has settled at the coordinator
// and a rebalance timeout has passed since it began: so the slow store is
// still slow for the whole time a member holding a write could be waited
// for. If the rebalance never settles, the latency heals after
// pollSettleWait and judgeMeeting finds the run inconclusive.
func healAfterRebalance(r *harness.Run, watch *rebalanceWatch) nemesis.Trigger {
	acked := nemesis.AfterAcked(r.History, pollRecords)
	return func(ctx context.Context) error {
		if err := acked(ctx); err != nil {
			return err
		}
		return watch.wait(ctx, pollTimeout, pollSettleWait)
	}
}

// judgeMeeting makes the run inconclusive unless the fault met the data:
// the coordinator showed the rebalance, and the store held a PUT that was
// in flight when it began and stayed held a rebalance timeout past that
// (or was given up by its writer). A rebalance that only met the tail of a
// write proves nothing about a member that blocks on its writes.
func judgeMeeting(ctx context.Context, r *harness.Run, watch *rebalanceWatch, held *heldWrites) {
	if !held.complete(ctx) {
		r.Inconclusive("the store's log of the PUTs it held never completed (10s after the heal)")
		return
	}
	began, settled := watch.times()
	if began.IsZero() {
		r.Inconclusive("the coordinator never showed the rebalance the second member's join starts")
		return
	}
	met, inFlight := held.across(began, pollTimeout)
	at := "+" + since(r, began).String()
	if !settled.IsZero() {
		r.Logf("the coordinator showed the rebalance begin at %s and settle %s later; %d held PUT(s) in flight when it began",
			at, settled.Sub(began).Round(time.Millisecond), inFlight)
	} else {
		r.Logf("the coordinator showed the rebalance begin at %s; it had not settled %s after the workload", at, pollSettleWait)
	}
	r.Assume(met, "no PUT the store held was in flight when the rebalance began (%s) and still held %s later: "+
		"the rebalance never met a held write (%d held PUT(s) overlapped its start)", at, pollTimeout, inFlight)
}
