package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"time"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
)

// Trigger blocks until its condition holds or ctx is done. Schedules use
// triggers rather than fixed sleeps so that a fault lands at the same point
// of the workload whatever the machine's speed: "after 300 acked records",
// "once the sink has written 2 objects".
type Trigger func(ctx context.Context) error

// Step is one fault in a schedule.
type Step struct {
	Nemesis Nemesis
	// Start is when the fault begins. Nil means at once.
	Start Trigger
	// Heal is when it ends, waited for after the fault started. Nil means
	// it stays until the schedule stops.
	Heal Trigger
	// Times repeats the step (start, heal) this many times. Default 1.
	Times int
	// Probability is the chance, drawn from the schedule's seed, that each
	// repetition fires at all. 0 means always.
	Probability float64
}

// Schedule runs steps one after another against an environment and records
// each start and heal in the history.
type Schedule struct {
	Env     env.Environment
	History *history.History
	Seed    int64
	Steps   []Step
	// Logf receives the narrative, one line per fault. Optional.
	Logf func(format string, args ...any)
}

// Running is a schedule in progress.
type Running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error

	mu     sync.Mutex
	active []active // started, not yet healed
	nextID int
	s      *Schedule
}

// active is a started fault. Faults are told apart by id: a Nemesis value
// need not be comparable.
type active struct {
	id int
	n  Nemesis
}

// Run starts the schedule in the background. Stop ends it, healing every
// fault still active.
func (s *Schedule) Run(ctx context.Context) *Running {
	ctx, cancel := context.WithCancel(ctx)
	r := &Running{cancel: cancel, done: make(chan struct{}), s: s}
	go func() {
		defer close(r.done)
		r.err = r.run(ctx)
	}()
	return r
}

func (r *Running) run(ctx context.Context) error {
	s := r.s
	rng := rand.New(rand.NewSource(s.Seed))
	for _, st := range s.Steps {
		times := max(st.Times, 1)
		for range times {
			if st.Start != nil {
				if err := st.Start(ctx); err != nil {
					return nil // schedule stopped before the fault was due
				}
			}
			if st.Probability > 0 && rng.Float64() >= st.Probability {
				r.logf("%s skipped by its probability %.2f", st.Nemesis.Name(), st.Probability)
				continue
			}
			id, err := r.start(ctx, st.Nemesis)
			if err != nil {
				return err
			}
			if st.Heal == nil {
				break
			}
			if err := st.Heal(ctx); err != nil {
				return nil // Stop heals it
			}
			if err := r.heal(context.WithoutCancel(ctx), active{id, st.Nemesis}); err != nil {
				return err
			}
		}
	}
	return nil
}

// faultStartTimeout bounds one fault's Start.
const faultStartTimeout = time.Minute

// start injects n. A Start once begun finishes even if the schedule is
// stopped meanwhile (the workload ended, say): cut half way, a region
// outage would leave some brokers down and none of it recorded as active,
// so Stop would not heal it. Stop waits for it and heals it as any other.
func (r *Running) start(ctx context.Context, n Nemesis) (int, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), faultStartTimeout)
	defer cancel()
	if err := n.Start(ctx, r.s.Env); err != nil {
		return 0, fmt.Errorf("start %s on %s: %w", n.Name(), n.Target(), err)
	}
	r.mu.Lock()
	r.nextID++
	id := r.nextID
	r.active = append(r.active, active{id, n})
	r.mu.Unlock()
	text := describe(n)
	if r.s.History != nil {
		r.s.History.FaultStarted(n.Name(), n.Target(), text)
	}
	r.logf("nemesis: %s", text)
	return id, nil
}

func (r *Running) heal(ctx context.Context, a active) error {
	n := a.n
	err := n.Heal(ctx, r.s.Env)
	r.mu.Lock()
	for i, x := range r.active {
		if x.id == a.id {
			r.active = append(r.active[:i], r.active[i+1:]...)
			break
		}
	}
	r.mu.Unlock()
	if r.s.History != nil {
		r.s.History.FaultHealed(n.Name(), n.Target(), "healed")
	}
	r.logf("nemesis: %s on %s healed", n.Name(), n.Target())
	if err != nil {
		return fmt.Errorf("heal %s on %s: %w", n.Name(), n.Target(), err)
	}
	return nil
}

func (r *Running) logf(format string, args ...any) {
	if r.s.Logf != nil {
		r.s.Logf(format, args...)
	}
}

// Done is closed when every step has run (or the schedule was stopped).
func (r *Running) Done() <-chan struct{} { return r.done }

// Wait blocks until every step has run or ctx is done, and returns the
// first error a fault returned. Faults still active stay active.
func (r *Running) Wait(ctx context.Context) error {
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop ends the schedule, heals every fault still active (newest first)
// and returns the first error of the run or of a heal.
func (r *Running) Stop(ctx context.Context) error {
	r.cancel()
	<-r.done
	r.mu.Lock()
	still := append([]active(nil), r.active...)
	r.mu.Unlock()
	errs := []error{r.err}
	for i := len(still) - 1; i >= 0; i-- {
		errs = append(errs, r.heal(ctx, still[i]))
	}
	return errors.Join(errs...)
}

// Unsupported reports whether err says a backend cannot do a fault.
func Unsupported(err error) bool { return errors.Is(err, env.ErrUnsupported) }

// After waits d. Use it for durations a fault lasts, not to wait for the
// system: conditions (AfterAcked, When) make schedules machine-independent.
func After(d time.Duration) Trigger {
	return func(ctx context.Context) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// When polls cond every 10ms until it holds.
func When(cond func() bool) Trigger {
	return func(ctx context.Context) error {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for !cond() {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
}

// AfterAcked fires once the history holds at least n acked produce
// outcomes; at scale N (History.Scale) n×N: the trigger moves with the
// workload's records.
func AfterAcked(h *history.History, n int) Trigger {
	n *= h.Scale()
	return When(func() bool { return h.Count(history.Produce, history.Acked) >= n })
}

// AfterWrites fires once the history holds at least n sink writes (the
// object writes the harness saw the store accept).
func AfterWrites(h *history.History, n int) Trigger {
	return When(func() bool { return h.Count(history.SinkWrite, "") >= n })
}
