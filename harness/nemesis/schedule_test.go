package nemesis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a nemesis that logs its calls.
type recorder struct {
	name string
	mu   *sync.Mutex
	log  *[]string
	err  error
}

func (n recorder) Name() string   { return n.name }
func (n recorder) Target() string { return "t" }
func (n recorder) Start(context.Context, env.Environment) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	*n.log = append(*n.log, "start "+n.name)
	return n.err
}
func (n recorder) Heal(context.Context, env.Environment) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	*n.log = append(*n.log, "heal "+n.name)
	return nil
}

func TestScheduleRunsStepsInOrderAndRecordsThem(t *testing.T) {
	var mu sync.Mutex
	var log []string
	h := history.New()
	gate := make(chan struct{})
	s := &Schedule{History: h, Steps: []Step{
		{Nemesis: recorder{"a", &mu, &log, nil}, Heal: When(func() bool {
			select {
			case <-gate:
				return true
			default:
				return false
			}
		})},
		{Nemesis: recorder{"b", &mu, &log, nil}, Times: 2, Heal: After(time.Millisecond)},
	}}
	run := s.Run(context.Background())
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(log) == 1 }, 5*time.Second, time.Millisecond)
	close(gate)
	require.NoError(t, run.Wait(context.Background()))
	require.NoError(t, run.Stop(context.Background()))
	require.Equal(t, []string{"start a", "heal a", "start b", "heal b", "start b", "heal b"}, log)
	spans := history.Faults(h.Events())
	require.Len(t, spans, 3)
	for _, sp := range spans {
		require.False(t, sp.Healed.IsZero(), "every fault healed")
	}
}

func TestStopHealsWhatIsStillActive(t *testing.T) {
	var mu sync.Mutex
	var log []string
	s := &Schedule{History: history.New(), Steps: []Step{{Nemesis: recorder{"forever", &mu, &log, nil}}}}
	run := s.Run(context.Background())
	require.NoError(t, run.Wait(context.Background()))
	require.Equal(t, []string{"start forever"}, log)
	require.NoError(t, run.Stop(context.Background()))
	require.Equal(t, []string{"start forever", "heal forever"}, log)
}

func TestStopBeforeTheTriggerStartsNothing(t *testing.T) {
	var mu sync.Mutex
	var log []string
	s := &Schedule{History: history.New(), Steps: []Step{{Nemesis: recorder{"late", &mu, &log, nil}, Start: When(func() bool { return false })}}}
	run := s.Run(context.Background())
	require.NoError(t, run.Stop(context.Background()))
	require.Empty(t, log)
}

func TestUnsupportedFaultIsReported(t *testing.T) {
	var mu sync.Mutex
	var log []string
	s := &Schedule{History: history.New(), Steps: []Step{{Nemesis: recorder{"x", &mu, &log, fmt.Errorf("pause: %w", env.ErrUnsupported)}}}}
	run := s.Run(context.Background())
	err := run.Wait(context.Background())
	require.True(t, Unsupported(err), "got %v", err)
	require.True(t, Unsupported(run.Stop(context.Background())))
}

func TestProbabilityIsSeeded(t *testing.T) {
	fired := func(seed int64) []string {
		var mu sync.Mutex
		var log []string
		s := &Schedule{History: history.New(), Seed: seed, Steps: []Step{{Nemesis: recorder{"p", &mu, &log, nil}, Times: 20, Probability: 0.5, Heal: After(0)}}}
		run := s.Run(context.Background())
		require.NoError(t, run.Wait(context.Background()))
		require.NoError(t, run.Stop(context.Background()))
		return log
	}
	a := fired(3)
	require.Equal(t, a, fired(3), "same seed, same faults")
	require.NotEmpty(t, a)
	require.Less(t, len(a), 40, "some repetitions were skipped")
}

func TestAfterAckedWaitsForTheHistory(t *testing.T) {
	h := history.New()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- AfterAcked(h, 3)(ctx) }()
	for i := range 3 {
		h.Produced("p", uint64(i+1), "k", history.Acked, "primary", "t", 0, int64(i), nil)
	}
	require.NoError(t, <-done)
	cancel()
	require.ErrorIs(t, AfterAcked(h, 10)(ctx), context.Canceled)
	require.True(t, errors.Is(ctx.Err(), context.Canceled))
}

// sliced is a nemesis whose value holds a slice, so it is not comparable.
type sliced struct {
	recorder
	tags []string
}

func TestNonComparableNemesisHeals(t *testing.T) {
	var mu sync.Mutex
	var log []string
	n := sliced{recorder{"s", &mu, &log, nil}, []string{"PUT"}}
	s := &Schedule{History: history.New(), Steps: []Step{{Nemesis: n, Heal: After(0)}, {Nemesis: n}}}
	run := s.Run(context.Background())
	require.NoError(t, run.Wait(context.Background()))
	require.NoError(t, run.Stop(context.Background()))
	require.Equal(t, []string{"start s", "heal s", "start s", "heal s"}, log)
}

// slowStart is a nemesis whose Start takes until release is closed (a
// region of real brokers going down) and fails if its context ends first.
type slowStart struct {
	started, release chan struct{}
	healed           *bool
}

func (n slowStart) Name() string   { return "slow-start" }
func (n slowStart) Target() string { return "t" }
func (n slowStart) Start(ctx context.Context, _ env.Environment) error {
	close(n.started)
	select {
	case <-n.release:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("start cut short: %w", ctx.Err())
	}
}
func (n slowStart) Heal(context.Context, env.Environment) error { *n.healed = true; return nil }

// TestStopLetsAStartedFaultFinishAndHealsIt: the schedule's context ending
// while a fault's Start is under way (the workload ended during a slow
// region stop) does not cut that Start short; the fault is recorded and
// Stop heals it like any other.
func TestStopLetsAStartedFaultFinishAndHealsIt(t *testing.T) {
	var healed bool
	n := slowStart{started: make(chan struct{}), release: make(chan struct{}), healed: &healed}
	h := history.New()
	s := &Schedule{History: h, Steps: []Step{{Nemesis: n, Heal: After(time.Hour)}}}
	ctx, cancel := context.WithCancel(context.Background())
	run := s.Run(ctx)
	<-n.started
	cancel() // what Stop does first, and a run's end does
	close(n.release)
	require.NoError(t, run.Stop(context.Background()))
	require.True(t, healed, "the fault that finished starting was healed")
	spans := history.Faults(h.Events())
	require.Len(t, spans, 1)
	require.False(t, spans[0].Healed.IsZero())
}
