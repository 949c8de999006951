package kafkaproxy_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProduceOverhead produces the same workload straight to kfake
// and through the proxy, interleaved in the same run, and reports the
// proxy's throughput as a share of the direct one (x-direct: 1 is no
// overhead). Asynchronous produce batches: the proxy's added latency
// makes the client's batches larger, so kfake (one goroutine for every
// request) can come out faster through the proxy; the synchronous
// benchmark below shows the per-request cost.
func BenchmarkProduceOverhead(b *testing.B) {
	const records, size = 5000, 512
	f := newFixture(b, 3, kfake.SeedTopics(6, "bench"))
	direct, proxied := benchClients(b, f)
	value := make([]byte, size)
	run := func(cl *kgo.Client) time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		start := time.Now()
		wg.Add(records)
		for i := 0; i < records; i++ {
			cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
				wg.Done()
			})
		}
		wg.Wait()
		require.NoError(b, firstErr)
		return time.Since(start)
	}
	run(direct) // warm both: metadata, connections, producer ids
	run(proxied)
	b.ResetTimer()
	var dt, pt time.Duration
	for i := 0; i < b.N; i++ {
		dt += run(direct)
		pt += run(proxied)
	}
	n := float64(records * b.N)
	b.ReportMetric(n/dt.Seconds(), "direct-rec/s")
	b.ReportMetric(n/pt.Seconds(), "proxy-rec/s")
	b.ReportMetric(dt.Seconds()/pt.Seconds(), "x-direct")
}

// BenchmarkProduceSyncOverhead produces one record at a time, waiting for
// each ack, straight and through the proxy: the proxy's cost per request
// round trip, as x-direct (direct latency / proxied latency).
func BenchmarkProduceSyncOverhead(b *testing.B) {
	const records = 200
	f := newFixture(b, 1, kfake.SeedTopics(1, "bench"))
	direct, proxied := benchClients(b, f)
	run := func(cl *kgo.Client) time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		for i := 0; i < records; i++ {
			require.NoError(b, cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr())
		}
		return time.Since(start)
	}
	run(direct)
	run(proxied)
	b.ResetTimer()
	var dt, pt time.Duration
	for i := 0; i < b.N; i++ {
		dt += run(direct)
		pt += run(proxied)
	}
	n := float64(records * b.N)
	b.ReportMetric(dt.Seconds()*1e6/n, "direct-us/ack")
	b.ReportMetric(pt.Seconds()*1e6/n, "proxy-us/ack")
	b.ReportMetric(dt.Seconds()/pt.Seconds(), "x-direct")
}

// benchClients are two producers with the same settings, one seeded with
// kfake's addresses, one with the proxy's.
func benchClients(b *testing.B, f *fixture) (direct, proxied *kgo.Client) {
	mk := func(seeds []string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("bench"))
		require.NoError(b, err)
		b.Cleanup(cl.Close)
		return cl
	}
	return mk(f.kc.ListenAddrs()), mk(f.p.Bootstrap())
}
