package sampler_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/embedded"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/sampler"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGroupLagCountsUncommittedPartitionsWhole(t *testing.T) {
	cfg, err := env.NewConfig()
	require.NoError(t, err)
	e, err := embedded.New(t, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := e.Region(env.Primary)
	require.NoError(t, r.CreateTopic(ctx, "t", 2))
	cl, err := r.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer cl.Close()
	for i := range 5 {
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Partition: int32(i % 2)}).FirstErr())
	}

	h := history.New()
	s := sampler.Start(ctx, h, time.Hour, sampler.GroupLag(cl, "never-joined", "t"), sampler.HTTPCost("store", e.Store().Faults()))
	s.Stop()
	v, _ := history.Peak(h.Events(), "lag_total")
	require.Equal(t, 5.0, v, "a group that never committed lags by every record")
	require.Positive(t, h.Count(history.Metric, ""))
}
