package s3sink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/embedded"
	"github.com/pipechaos/pipechaos/harness/workload"
)

// BenchmarkSinkVsRawConsume (P1) measures the sink's end-to-end throughput
// — consume, decode through the registry, encode Avro OCF, PUT to the store,
// commit — against a bare franz-go group consumer reading the same records
// from the same cluster. The ratio is reported as x-raw-consume (target
// ≥ 0.5): how much of Kafka's raw read speed survives the sink's work. It
// runs at two sizes: 60k records fit the sink's byte budget, 200k records
// make the budget push back on the fetches.
func BenchmarkSinkVsRawConsume(b *testing.B) {
	for _, records := range []int{60000, 200000} {
		b.Run(fmt.Sprintf("records=%d", records), func(b *testing.B) { sinkVsRaw(b, records) })
	}
}

func sinkVsRaw(b *testing.B, records int) {
	const (
		topic      = "bench"
		partitions = 6
	)
	cfg, err := env.NewConfig(env.Backend(env.Embedded))
	if err != nil {
		b.Fatal(err)
	}
	e, err := embedded.New(b, cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	region := e.Region(env.Primary)
	if err := region.CreateTopic(ctx, topic, partitions); err != nil {
		b.Fatal(err)
	}
	pcl, err := region.Client(kgo.ProducerLinger(5 * time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	st, err := workload.Run(ctx, workload.Config{Topic: topic, Records: records, PayloadBytes: 200,
		RegistryURL: e.Registry().URL(), MaxInFlight: 4096}, workload.KafkaProducer(pcl, env.Primary))
	pcl.Close()
	if err != nil || st.Acked != int64(records) {
		b.Fatalf("produce: %v (%s)", err, st)
	}

	var raw, sink time.Duration
	b.ResetTimer()
	for i := range b.N {
		raw += rawConsume(b, region, topic, fmt.Sprintf("raw-%d", i), records)
		sink += sinkConsume(b, e, topic, fmt.Sprintf("sink-%d", i))
	}
	b.StopTimer()
	rawRate := float64(records*b.N) / raw.Seconds()
	sinkRate := float64(records*b.N) / sink.Seconds()
	b.ReportMetric(rawRate, "raw-records/s")
	b.ReportMetric(sinkRate, "sink-records/s")
	b.ReportMetric(sinkRate/rawRate, "x-raw-consume")
}

// rawConsume reads every record of topic with a fresh consumer group.
func rawConsume(b *testing.B, region env.Region, topic, group string, want int) time.Duration {
	cl, err := region.Client(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	n := 0
	for n < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatalf("raw consume: %d of %d records", n, want)
		}
		n += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// sinkConsume runs a sink with a fresh group until it has written and
// committed every record of the topic.
func sinkConsume(b *testing.B, e env.Environment, topic, group string) time.Duration {
	st := e.Store()
	boot := e.Region(env.Primary).Bootstrap()
	s, err := s3sink.New(s3sink.Config{
		Brokers: boot, Topic: topic, Group: group, RegistryURL: e.Registry().URL(),
		S3Endpoint: st.Endpoint(), S3AccessKey: st.AccessKey(), S3SecretKey: st.SecretKey(), Bucket: st.Bucket(),
		FlushSize: 5000, RotateInterval: 200 * time.Millisecond, KgoOpts: append(env.ClientOpts(boot), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- s.Run(ctx) }()
	if err := s.Drain(ctx); err != nil {
		b.Fatalf("sink drain: %v", err)
	}
	elapsed := time.Since(start)
	s.Close()
	if err := <-done; err != nil {
		b.Fatalf("sink: %v", err)
	}
	return elapsed
}
