package autoscaler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// step is one evaluation: the signals at an offset from t0, and the answer.
type step struct {
	at      time.Duration
	lag     int64
	workers int
	rate    float64
	want    int
}

func play(t *testing.T, p Policy, steps []step) {
	t.Helper()
	t0 := time.Unix(1_700_000_000, 0)
	for i, s := range steps {
		got := p.Desired(Signals{Lag: s.lag, Workers: s.workers, Throughput: s.rate, Now: t0.Add(s.at), MinWorkers: 1, MaxWorkers: 5})
		require.Equal(t, s.want, got, "step %d (t=%s lag=%d workers=%d rate=%g)", i, s.at, s.lag, s.workers, s.rate)
	}
}

func TestLagPolicy(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"calm traffic under the threshold keeps one worker", []step{
			{0, 40, 1, 400, 1}, {100 * ms, 99, 1, 400, 1}, {200 * ms, 100, 1, 400, 1},
		}},
		{"lag over the threshold adds one worker per evaluation", []step{
			{0, 101, 1, 0, 2}, {100 * ms, 900, 2, 0, 3}, {200 * ms, 900, 3, 0, 4}, {300 * ms, 5000, 4, 0, 5},
		}},
		{"it scales again on the lag its own rebalance caused: no cooldown, no rate", []step{
			{0, 150, 1, 3000, 2}, {100 * ms, 350, 2, 0, 3}, {200 * ms, 620, 3, 0, 4},
		}},
		{"lag under the threshold per worker removes one per evaluation", []step{
			{0, 0, 5, 0, 4}, {100 * ms, 250, 4, 0, 3}, {200 * ms, 300, 3, 0, 3},
		}},
		{"both ways on one threshold, no hysteresis: it oscillates on the lag of its own rebalances", []step{
			{0, 150, 1, 1800, 2}, {100 * ms, 90, 2, 1800, 1}, {200 * ms, 160, 1, 0, 2}, {300 * ms, 99, 2, 2000, 1},
		}},
		{"unknown lag keeps the count", []step{{0, -1, 3, 0, 3}}},
		{"no workers asks for one", []step{{0, 0, 0, 0, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) { play(t, &Lag{Threshold: 100}, tc.steps) })
	}
}

func TestThroughputPolicy(t *testing.T) {
	ms := time.Millisecond
	policy := func() *Throughput {
		return &Throughput{PerWorker: 1000, UpAt: 0.8, DownAt: 0.3, Sustain: 500 * ms, Cooldown: 2 * time.Second}
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"lag alone never scales", []step{
			{0, 100_000, 1, 500, 1}, {time.Second, 100_000, 1, 500, 1}, {3 * time.Second, 1_000_000, 1, 500, 1},
		}},
		{"a sustained rate near capacity adds one worker", []step{
			{0, 0, 1, 900, 1}, {400 * ms, 0, 1, 950, 1}, {500 * ms, 0, 1, 900, 2},
		}},
		{"a burst shorter than Sustain does nothing", []step{
			{0, 0, 1, 2000, 1}, {300 * ms, 0, 1, 2000, 1}, {400 * ms, 0, 1, 500, 1}, {800 * ms, 0, 1, 2000, 1}, {1200 * ms, 0, 1, 2000, 1},
		}},
		{"cooldown: the rebalance's dip to zero does not scale down, nor the next burst up", []step{
			{0, 0, 1, 900, 1}, {500 * ms, 0, 1, 900, 2},
			{600 * ms, 5000, 2, 0, 2}, {1500 * ms, 5000, 2, 0, 2}, {2 * time.Second, 0, 2, 3000, 2},
			{2600 * ms, 0, 2, 3000, 2}, {3100 * ms, 0, 2, 3000, 3},
		}},
		{"hysteresis: between DownAt and UpAt nothing changes", []step{
			{0, 0, 2, 1000, 2}, {time.Second, 0, 2, 1000, 2}, {5 * time.Second, 0, 2, 1500, 2},
		}},
		{"a sustained low rate removes one worker", []step{
			{0, 0, 3, 600, 3}, {400 * ms, 0, 3, 600, 3}, {500 * ms, 0, 3, 600, 2},
		}},
		{"at the pool's minimum a low rate changes nothing, and starts no cooldown", []step{
			{0, 0, 1, 100, 1}, {time.Second, 0, 1, 100, 1}, {1100 * ms, 0, 1, 900, 1}, {1600 * ms, 0, 1, 900, 2},
		}},
		{"a dip that recovers resets the clock", []step{
			{0, 0, 3, 600, 3}, {400 * ms, 0, 3, 1500, 3}, {600 * ms, 0, 3, 600, 3}, {1000 * ms, 0, 3, 600, 3}, {1100 * ms, 0, 3, 600, 2},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { play(t, policy(), tc.steps) })
	}
	require.Error(t, (&Throughput{}).Validate())
	require.Error(t, (&Throughput{PerWorker: 1, UpAt: 0.3, DownAt: 0.5}).Validate())
	require.NoError(t, policy().Validate())
}
