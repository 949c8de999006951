package nodes_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/nodes"
)

// BenchmarkEnvironmentUp measures nodes.New: two regions of three real
// Kafka brokers, the registry and MinIO with its bucket, all ready. It
// reports the median time up and the mean and largest resident memory of
// one broker right after start.
func BenchmarkEnvironmentUp(b *testing.B) {
	nodes.RequireAvailable(b)
	cfg, err := env.NewConfig(env.Backend(env.Nodes))
	require.NoError(b, err)
	var ups []time.Duration
	var rss []int64
	for b.Loop() {
		start := time.Now()
		e, err := nodes.New(b, cfg)
		require.NoError(b, err)
		ups = append(ups, time.Since(start))
		b.StopTimer()
		for _, name := range []string{env.Primary, env.Secondary} {
			for _, n := range e.Region(name).(*nodes.Region).RSS() {
				rss = append(rss, n)
			}
		}
		require.NoError(b, e.Close())
		b.StartTimer()
	}
	slices.Sort(ups)
	b.ReportMetric(ups[len(ups)/2].Seconds(), "s/up-median")
	var sum int64
	for _, n := range rss {
		sum += n
	}
	if len(rss) > 0 {
		b.ReportMetric(float64(sum)/float64(len(rss))/(1<<20), "MiB/broker-rss-mean")
		b.ReportMetric(float64(slices.Max(rss))/(1<<20), "MiB/broker-rss-max")
	}
}
