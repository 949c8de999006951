package harness

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseScale(t *testing.T) {
	n, err := ParseScale("100")
	require.NoError(t, err)
	require.Equal(t, 100, n)
	for _, bad := range []string{"0", "-3", "1.5", "x", ""} {
		_, err := ParseScale(bad)
		require.Error(t, err, bad)
	}
}

// TestCheckScaleRefusesWithTheLimitAndTheLargestThatFits: memory and time
// limits each refuse, naming the limit with numbers and the largest scale
// that fits; within the limits, nothing is refused.
func TestCheckScaleRefusesWithTheLimitAndTheLargestThatFits(t *testing.T) {
	s := &Scenario{Name: "big", Records: 1000}
	one := EstimateScale(s, 1, "embedded")
	lim := Limits{Memory: one.Memory * 50, Time: time.Hour}
	require.NoError(t, CheckScale(s, 50, "embedded", lim))
	err := CheckScale(s, 51, "embedded", lim)
	require.Error(t, err)
	require.Contains(t, err.Error(), "memory: needs about")
	require.Contains(t, err.Error(), "the largest scale that fits is 50")

	lim = Limits{Time: one.Time * 10}
	err = CheckScale(s, 1000, "embedded", lim)
	require.ErrorContains(t, err, "time: needs about")
	require.ErrorContains(t, err, "the largest scale that fits is 10")
	require.NoError(t, CheckScale(s, 1, "embedded", Limits{Memory: 1}), "scale 1 is the scenario as written: never refused")
}

// TestExecuteAtScale: Execute reads $PIPECHAOS_SCALE, refuses what does not
// fit before running anything, and otherwise scales the run and the
// history's record-count triggers.
func TestExecuteAtScale(t *testing.T) {
	t.Setenv(ScaleEnv, "1000000")
	ran := false
	s := &Scenario{Name: "huge", Records: 1_000_000, Run: func(context.Context, *Run) error { ran = true; return nil }}
	out := Execute(context.Background(), s, Fixed, noEnv{}, 1, nil)
	require.False(t, ran, "a refused scale runs nothing")
	require.Contains(t, out.Error, "scale 1000000 refused")

	t.Setenv(ScaleEnv, "3")
	var got, acked int
	s = &Scenario{Name: "small", Records: 10, Run: func(_ context.Context, r *Run) error {
		got, acked = r.Scaled(10), r.History.Scale()
		r.SetCheck(okCheck())
		return nil
	}}
	out = Execute(context.Background(), s, Fixed, noEnv{}, 1, nil)
	require.Empty(t, out.Error)
	require.Equal(t, 30, got)
	require.Equal(t, 3, acked)
	require.Equal(t, 3, out.Scale)
	require.True(t, strings.HasSuffix(out.Replay(), "--scale 3"))

	t.Setenv(ScaleEnv, "zero")
	out = Execute(context.Background(), s, Fixed, noEnv{}, 1, nil)
	require.Contains(t, out.Error, "PIPECHAOS_SCALE")
}
