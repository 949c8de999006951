package harness

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// noEnv is an environment with nothing in it: Execute only asks its backend.
type noEnv struct{ env.Environment }

func (noEnv) Backend() string  { return "none" }
func (noEnv) Store() env.Store { return nil }

func okCheck() checker.Result {
	l := checker.NewLedger()
	l.Ack(1)
	c := checker.New(l)
	c.Record(checker.Found{ID: 1, Key: "k"})
	return c.Result()
}

func execute(run func(context.Context, *Run) error, v Variant) Outcome {
	s := &Scenario{Name: "t", Run: run}
	return Execute(context.Background(), s, v, noEnv{}, 7, nil)
}

func TestExecuteVerdicts(t *testing.T) {
	out := execute(func(_ context.Context, r *Run) error { r.SetCheck(okCheck()); return nil }, Fixed)
	require.Empty(t, out.Failure)
	require.True(t, out.Expected())
	require.Equal(t, int64(7), out.Seed)

	out = execute(func(_ context.Context, r *Run) error {
		r.SetCheck(okCheck())
		r.Violation("partition %d stale for %s", 2, "2.4s")
		return nil
	}, Buggy)
	require.True(t, strings.HasPrefix(out.Failure, BugPrefix), out.Failure)
	require.Contains(t, out.Failure, "partition 2 stale for 2.4s")
	require.True(t, out.Expected(), "a caught buggy run is the expected outcome")

	out = execute(func(_ context.Context, r *Run) error { r.SetCheck(okCheck()); return nil }, Buggy)
	require.False(t, out.Expected(), "a buggy run that passes slipped through")

	out = execute(func(context.Context, *Run) error { return nil }, Fixed)
	require.Contains(t, out.Failure, "never checked the store", "a run that checks nothing is not a pass")

	l := checker.NewLedger()
	l.Ack(1)
	empty := checker.New(l).Result()
	out = execute(func(_ context.Context, r *Run) error { r.SetCheck(empty); return nil }, Fixed)
	require.Contains(t, out.Failure, "1 acked records never reached the bucket")
	require.Contains(t, out.Failure, "no records at all")
	require.Equal(t, checker.Illegal, out.Verdict)
}

// A buggy run is a catch only if it shows its incident's consequence.
func TestExecuteCatchesOnlyTheDeclaredConsequence(t *testing.T) {
	s := &Scenario{Name: "t", Consequence: Stale, Run: func(_ context.Context, r *Run) error {
		r.SetCheck(okCheck())
		r.ViolationOf(Churn, "3 rebalances")
		return nil
	}}
	out := Execute(context.Background(), s, Buggy, noEnv{}, 7, nil)
	require.Equal(t, checker.Illegal, out.Verdict)
	require.False(t, out.Caught(), "churn is not the stale partition the incident names")
	require.False(t, out.Expected())

	s.Run = func(_ context.Context, r *Run) error {
		r.SetCheck(okCheck())
		r.ViolationOf(Churn, "3 rebalances")
		r.ViolationOf(Stale, "partition 2 stale for 2.4s")
		return nil
	}
	out = Execute(context.Background(), s, Buggy, noEnv{}, 7, nil)
	require.True(t, out.Caught())
	require.Equal(t, []Consequence{Churn, Stale}, out.Consequences)

	s.Consequence = Lost
	s.Run = func(_ context.Context, r *Run) error { r.SetCheck(checkerLost()); return nil }
	out = Execute(context.Background(), s, Buggy, noEnv{}, 7, nil)
	require.True(t, out.Caught(), "the checker's lost records are of class lost: %v", out.Consequences)
}

// A buggy run whose fault never fired is inconclusive, not caught, even if
// it found something: the assumption is checked first.
func TestExecuteFaultThatNeverFiredIsInconclusive(t *testing.T) {
	s := &Scenario{Name: "t", Consequence: Lost, Run: func(_ context.Context, r *Run) error {
		r.SetCheck(checkerLost())
		r.Assume(false, "the outage never made a write give up (0 5xx answers)")
		return nil
	}}
	out := Execute(context.Background(), s, Buggy, noEnv{}, 7, nil)
	require.Equal(t, checker.Unknown, out.Verdict)
	require.Empty(t, out.Failure, "an inconclusive run reproduces no bug")
	require.False(t, out.Caught())
	require.False(t, out.Expected())
	require.Contains(t, out.Inconclusive[0], "never made a write give up")

	s.Run = func(context.Context, *Run) error { return Inconclusive("the broker crash never happened") }
	out = Execute(context.Background(), s, Fixed, noEnv{}, 7, nil)
	require.Equal(t, checker.Unknown, out.Verdict)
	require.Empty(t, out.Error)
	require.Equal(t, []string{"the broker crash never happened"}, out.Inconclusive)
	require.False(t, out.Expected(), "an inconclusive run is not a pass either")
}

// The checker's own Unknown (a store read incompletely) is read: the run
// is inconclusive, and the missing records are not counted as lost.
func TestExecuteReadsTheCheckersUnknown(t *testing.T) {
	l := checker.NewLedger()
	l.Ack(1)
	l.Ack(2)
	c := checker.New(l)
	c.Record(checker.Found{ID: 1, Key: "k"})
	c.Incomplete(fmt.Errorf("list topics/: connection refused"))
	res := c.Result()
	require.Equal(t, checker.Unknown, res.Verdict)
	out := execute(func(_ context.Context, r *Run) error { r.SetCheck(res); return nil }, Buggy)
	require.Equal(t, checker.Unknown, out.Verdict)
	require.Empty(t, out.Failure)
	require.Contains(t, strings.Join(out.Inconclusive, "\n"), "connection refused")
}

func checkerLost() checker.Result {
	l := checker.NewLedger()
	l.Ack(1)
	l.Ack(2)
	c := checker.New(l)
	c.Record(checker.Found{ID: 1, Key: "k"})
	return c.Result()
}

func TestExecuteSkipsUnsupportedAndReportsErrors(t *testing.T) {
	out := execute(func(context.Context, *Run) error {
		return fmt.Errorf("pause broker: %w", env.ErrUnsupported)
	}, Fixed)
	require.Contains(t, out.Skipped, "pause broker")
	require.False(t, out.Expected())

	out = execute(func(context.Context, *Run) error { return fmt.Errorf("create topic: boom") }, Fixed)
	require.Equal(t, "create topic: boom", out.Error)
	require.Empty(t, out.Failure)
}

func TestSeed(t *testing.T) {
	t.Setenv("PIPECHAOS_SEED", "")
	a, err := Seed("null-headers")
	require.NoError(t, err)
	b, _ := Seed("null-headers")
	c, _ := Seed("silent-stop")
	require.Equal(t, a, b, "stable per scenario")
	require.NotEqual(t, a, c)
	t.Setenv("PIPECHAOS_SEED", "42")
	s, err := Seed("null-headers")
	require.NoError(t, err)
	require.Equal(t, int64(42), s)
	t.Setenv("PIPECHAOS_SEED", "forty-two")
	_, err = Seed("x")
	require.ErrorContains(t, err, "not an integer")
	_, err = ParseVariant("broken")
	require.ErrorContains(t, err, `use "fixed" or "buggy"`)
}
