package autoscaler

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pipechaos/pipechaos/harness/checker"
)

// knob is a policy a test turns by hand.
type knob struct{ n atomic.Int64 }

func (k *knob) Desired(Signals) int { return int(k.n.Load()) }

// waitWorkers waits until the pool runs n workers.
func waitWorkers(t *testing.T, p *Pool, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.Workers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("pool runs %d workers, want %d", p.Workers(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPoolScalesWithoutLoss scales a pool 1 -> 3 -> 1 while records flow, in
// each group protocol, and checks the bucket: every acked record, once.
func TestPoolScalesWithoutLoss(t *testing.T) {
	for _, rb := range []Rebalancing{Cooperative, Eager, ServerSide} {
		t.Run(rb.String(), func(t *testing.T) {
			r := newRig(t, 6)
			k := &knob{}
			k.n.Store(1)
			p := r.start(Config{Sink: r.sink(), Policy: k, Interval: 20 * time.Millisecond, Rebalancing: rb, Logf: t.Logf})

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			produced := make(chan struct{})
			go func() {
				defer close(produced)
				r.produce(ctx, 3000, 3000, nil)
			}()
			time.Sleep(200 * time.Millisecond) // let records flow before scaling: the point is scaling mid-stream
			k.n.Store(3)
			waitWorkers(t, p, 3)
			time.Sleep(200 * time.Millisecond)
			k.n.Store(1)
			waitWorkers(t, p, 1)
			<-produced
			r.drain(p)

			res := r.check()
			require.Equal(t, checker.Ok, res.Verdict, "%s", res.Summary())
			require.Zero(t, res.Lost)
			require.Equal(t, 3000, res.FoundUnique)

			body := scrape(t, p)
			require.Contains(t, body, `pipechaos_autoscaler_scale_events_total{direction="up",group="workers"} 3`)
			require.Contains(t, body, `pipechaos_autoscaler_scale_events_total{direction="down",group="workers"} 2`)
			require.Contains(t, body, `pipechaos_autoscaler_workers{group="workers"} 1`)
		})
	}
}

// TestPoolMetrics checks /metrics: every metric is there, and the sums
// from the workers' own registries count what they consumed and the
// rebalances they lived through.
func TestPoolMetrics(t *testing.T) {
	r := newRig(t, 4)
	p := r.start(Config{Sink: r.sink(), Policy: &knob{}, Interval: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r.produce(ctx, 500, 0, nil)
	r.drain(p)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(scrape(t, p), `pipechaos_autoscaler_records_consumed_total{group="workers"} 500`) {
		require.True(t, time.Now().Before(deadline), "consumed total never reached 500:\n%s", scrape(t, p))
		time.Sleep(20 * time.Millisecond)
	}
	body := scrape(t, p)
	for _, want := range []string{
		`pipechaos_autoscaler_workers{group="workers"} 1`,
		`pipechaos_autoscaler_desired_workers{group="workers"} 1`,
		`pipechaos_autoscaler_scale_events_total{direction="up",group="workers"} 1`,
		`pipechaos_autoscaler_scale_events_total{direction="down",group="workers"} 0`,
		`pipechaos_autoscaler_rebalances_total{group="workers",kind="assigned"} 1`,
		`pipechaos_autoscaler_rebalances_total{group="workers",kind="revoked"} 0`,
		`pipechaos_autoscaler_rebalances_total{group="workers",kind="lost"} 0`,
		`pipechaos_autoscaler_lag_records{group="workers"} `,
		`pipechaos_autoscaler_throughput_records_per_second{group="workers"} `,
		`pipechaos_autoscaler_evaluations_total{group="workers"} `,
		`# HELP pipechaos_autoscaler_rebalances_total `,
	} {
		require.Contains(t, body, want)
	}
}

func TestConfigValidate(t *testing.T) {
	_, err := New(Config{})
	require.Error(t, err)
	for _, want := range []string{"no policy", "no brokers", "no topic"} {
		require.ErrorContains(t, err, want)
	}
	_, err = New(Config{Sink: (&rig{}).sinkNoRig(), Policy: &knob{}, MinWorkers: 3, MaxWorkers: 2})
	require.ErrorContains(t, err, "MinWorkers <= MaxWorkers")
}

func scrape(t *testing.T, p *Pool) string {
	t.Helper()
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	srv.Client().CloseIdleConnections()
	return string(b)
}
