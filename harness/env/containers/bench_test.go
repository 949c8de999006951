package containers_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/containers"
)

// BenchmarkEnvironmentUp measures containers.New (images cached): two
// regions of three brokers, registry and MinIO with its bucket, all ready.
// It reports the median in seconds (target: 5 s or less).
func BenchmarkEnvironmentUp(b *testing.B) {
	containers.RequireAvailable(b)
	cfg, err := env.NewConfig(env.Backend(env.Containers))
	require.NoError(b, err)
	var ups []time.Duration
	for b.Loop() {
		start := time.Now()
		e, err := containers.New(b, cfg)
		require.NoError(b, err)
		ups = append(ups, time.Since(start))
		b.StopTimer()
		require.NoError(b, e.Close())
		b.StartTimer()
	}
	slices.Sort(ups)
	b.ReportMetric(ups[len(ups)/2].Seconds(), "s/up-median")
}
