package autoscaler

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pipechaos/pipechaos/harness/checker"
)

// TestLagPolicyCalmTraffic is the buggy policy's happy path: while traffic
// is calm, lag stays under the threshold, one worker carries everything,
// and nothing is scaled, rebalanced or lost. Its defect needs a spike.
func TestLagPolicyCalmTraffic(t *testing.T) {
	r := newRig(t, 6)
	p := r.start(Config{Sink: r.sink(), Policy: &Lag{Threshold: 100}, Rebalancing: Eager, Interval: 100 * time.Millisecond, Logf: t.Logf})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r.produce(ctx, 300, 200, nil)
	r.drain(p)

	res := r.check()
	require.Equal(t, checker.Ok, res.Verdict, "%s", res.Summary())
	require.Equal(t, 1, p.Workers())
	body := scrape(t, p)
	require.Contains(t, body, `pipechaos_autoscaler_scale_events_total{direction="up",group="workers"} 1`)
	require.Contains(t, body, `pipechaos_autoscaler_scale_events_total{direction="down",group="workers"} 0`)
	require.Contains(t, body, `pipechaos_autoscaler_rebalances_total{group="workers",kind="revoked"} 0`)
}
