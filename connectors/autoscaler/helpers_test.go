package autoscaler

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/workload"
)

// rig is a minimal environment reached by addresses alone: a kfake region,
// an srfake registry and a gofakes3 store.
type rig struct {
	t       testing.TB
	topic   string
	kafka   *kfake.Cluster
	reg     *srfake.Registry
	s3      *httptest.Server
	bucket  string
	history *history.History
}

func newRig(t testing.TB, partitions int32) *rig {
	t.Helper()
	r := &rig{t: t, topic: "clicks", bucket: "pipechaos", history: history.New()}
	var err error
	r.kafka, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, r.topic),
		// Scaled-down group timings, as the pipechaos-kafka broker allows.
		kfake.GroupMinSessionTimeout(100*time.Millisecond),
		kfake.BrokerConfigs(map[string]string{"group.consumer.heartbeat.interval.ms": "100"}))
	require.NoError(t, err)
	t.Cleanup(r.kafka.Close)
	r.reg = srfake.New()
	t.Cleanup(r.reg.Close)
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket(r.bucket))
	r.s3 = httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(r.s3.Close)
	return r
}

// sink is a worker configuration for the rig, with scaled-down timings.
func (r *rig) sink() s3sink.Config {
	return s3sink.Config{
		Brokers:          r.kafka.ListenAddrs(),
		Topic:            r.topic,
		Group:            "workers",
		RegistryURL:      r.reg.URL(),
		S3Endpoint:       r.s3.Listener.Addr().String(),
		S3AccessKey:      "k",
		S3SecretKey:      "s",
		Bucket:           r.bucket,
		FlushSize:        500,
		RotateInterval:   100 * time.Millisecond,
		SessionTimeout:   2 * time.Second,
		RebalanceTimeout: 2 * time.Second,
		Logf:             r.t.Logf,
		KgoOpts:          env.ClientOpts(r.kafka.ListenAddrs()),
	}
}

// start runs a pool in the background; cleanup stops it.
func (r *rig) start(cfg Config) *Pool {
	r.t.Helper()
	p, err := New(cfg)
	require.NoError(r.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	r.t.Cleanup(func() {
		cancel()
		require.NoError(r.t, <-done)
		p.Close()
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	require.NoError(r.t, p.Ready(wctx))
	return p
}

// produce runs a workload of n records at rate (0: as fast as possible).
func (r *rig) produce(ctx context.Context, n int, rate float64, p workload.Producer) workload.Stats {
	r.t.Helper()
	cl, err := kgo.NewClient(append(env.ClientOpts(r.kafka.ListenAddrs()), kgo.DefaultProduceTopic(r.topic))...)
	require.NoError(r.t, err)
	defer cl.Close()
	if p == nil {
		p = workload.KafkaProducer(cl, env.Primary)
	}
	st, err := workload.Run(ctx, workload.Config{Topic: r.topic, Records: n, Rate: rate, Seed: 7, Schemas: []workload.SchemaStep{{From: 1, Schema: workload.SchemaV1}}, MaxInFlight: 512,
		RegistryURL: r.reg.URL(), History: r.history}, p)
	require.NoError(r.t, err)
	require.EqualValues(r.t, n, st.Acked, "records acked: %s", st)
	return st
}

// drain waits until the group committed every record.
func (r *rig) drain(p *Pool) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for p.lag(context.Background()) != 0 {
		if time.Now().After(deadline) {
			r.t.Fatalf("group never drained: lag %d", p.lag(context.Background()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// check reads the bucket and checks it against the produce history.
func (r *rig) check() checker.Result {
	r.t.Helper()
	cl, err := minio.New(r.s3.Listener.Addr().String(), &minio.Options{Creds: credentials.NewStaticV4("k", "s", "")})
	require.NoError(r.t, err)
	c := checker.New(checker.LedgerFrom(r.history.Events()))
	require.NoError(r.t, checker.ReadStore(context.Background(), cl, r.bucket, "", c))
	return c.Result()
}

// sinkNoRig is a syntactically complete sink config pointing nowhere.
func (r *rig) sinkNoRig() s3sink.Config {
	return s3sink.Config{Brokers: []string{"127.0.0.1:1"}, Topic: "t", RegistryURL: "http://127.0.0.1:1", S3Endpoint: "127.0.0.1:1", Bucket: "b"}
}
