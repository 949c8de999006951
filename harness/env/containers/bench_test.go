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
// regions of three brokers, registry and MinIO with its bucket, all ready,
// for real Apache Kafka and for the kfake image (the default) side by
// side. It reports medians (`make bench-env` runs 5 of each; target with
// kfake: 5 s or less). With real Kafka the secondary region starts on
// first use: ms/up-median is what a primary-only scenario waits for,
// ms/both-regions-median includes the secondary region's start.
func BenchmarkEnvironmentUp(b *testing.B) {
	containers.RequireAvailable(b)
	for _, img := range []struct{ name, ref string }{
		{"apache-kafka", containers.ApacheKafkaImage},
		{"kfake", containers.FakeKafkaImage},
	} {
		b.Run(img.name, func(b *testing.B) { benchmarkUp(b, containers.KafkaImage(img.ref)) })
	}
}

func benchmarkUp(b *testing.B, opts ...containers.Opt) {
	cfg, err := env.NewConfig(env.Backend(env.Containers))
	require.NoError(b, err)
	var ups, boths []time.Duration
	for b.Loop() {
		start := time.Now()
		e, err := containers.New(b, cfg, opts...)
		require.NoError(b, err)
		ups = append(ups, time.Since(start))
		require.NotNil(b, e.Region(env.Secondary))
		boths = append(boths, time.Since(start))
		b.StopTimer()
		require.NoError(b, e.Close())
		b.StartTimer()
	}
	slices.Sort(ups)
	slices.Sort(boths)
	b.ReportMetric(ups[len(ups)/2].Seconds(), "s/up-median")
	b.ReportMetric(float64(ups[len(ups)/2].Milliseconds()), "ms/up-median")
	b.ReportMetric(float64(boths[len(boths)/2].Milliseconds()), "ms/both-regions-median")
	b.ReportMetric(float64(len(ups)), "runs")
}
