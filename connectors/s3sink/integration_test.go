package s3sink

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/backends"
	"github.com/pipechaos/pipechaos/harness/workload"
)

// envRig is a test environment from harness/env: one region's topic, the
// registry and the store, plus the rig's bucket readers.
type envRig struct {
	*rig
	e      env.Environment
	region env.Region
	sid    int
	prod   *kgo.Client
}

func newEnvRig(t *testing.T, partitions int32) *envRig {
	t.Helper()
	e := backends.New(t, env.BrokersPerRegion(1))
	er := &envRig{e: e, region: e.Region(env.Primary), rig: &rig{t: t, topic: "events", bucket: e.Store().Bucket()}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, er.region.CreateTopic(ctx, er.topic, partitions))

	tr := newTransport()
	t.Cleanup(tr.CloseIdleConnections)
	reg, err := sr.NewClient(sr.URLs(e.Registry().URL()), sr.HTTPClient(&http.Client{Transport: tr}))
	require.NoError(t, err)
	ss, err := reg.CreateSchema(ctx, er.topic+workload.SubjectSuffix, sr.Schema{Schema: workload.SchemaV1})
	require.NoError(t, err)
	er.sid = ss.ID

	er.tr = newTransport()
	t.Cleanup(er.tr.CloseIdleConnections)
	er.store, err = newStore(Config{S3Endpoint: e.Store().Endpoint(), S3AccessKey: e.Store().AccessKey(), S3SecretKey: e.Store().SecretKey()}, er.tr)
	require.NoError(t, err)

	er.prod, err = er.region.Client(kgo.DefaultProduceTopic(er.topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	require.NoError(t, err)
	t.Cleanup(er.prod.Close)
	return er
}

func (er *envRig) config() Config {
	return Config{
		Brokers:          er.region.Bootstrap(),
		Topic:            er.topic,
		Group:            "sink",
		RegistryURL:      er.e.Registry().URL(),
		S3Endpoint:       er.e.Store().Endpoint(),
		S3AccessKey:      er.e.Store().AccessKey(),
		S3SecretKey:      er.e.Store().SecretKey(),
		Bucket:           er.bucket,
		FlushSize:        100,
		RotateInterval:   100 * time.Millisecond,
		RetryBackoff:     10 * time.Millisecond,
		RetryBackoffMax:  200 * time.Millisecond,
		MaxRetries:       1000,
		RetryBudget:      100000,
		SessionTimeout:   2 * time.Second,
		RebalanceTimeout: 4 * time.Second,
		Logf:             er.t.Logf,
		KgoOpts:          env.ClientOpts(er.region.Bootstrap()),
	}
}

// produceIDs produces ids [from, to) and waits for every ack, retrying a
// record the broker did not take (the region may be coming back).
func (er *envRig) produceIDs(from, to int64) {
	er.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for id := from; id < to; id++ {
		rec := &kgo.Record{Key: fmt.Appendf(nil, "k%d", id), Value: value(er.t, workload.SchemaV1, er.sid, id),
			Headers: []kgo.RecordHeader{{Key: workload.IDHeader, Value: fmt.Appendf(nil, "%d", id)}}}
		for {
			err := er.prod.ProduceSync(ctx, rec).FirstErr()
			if err == nil {
				break
			}
			require.NoError(er.t, ctx.Err(), "produce %d: %v", id, err)
		}
	}
}

// The sink keeps going through a region restart (brokers down, then back
// on the same addresses): every acknowledged record reaches the bucket.
func TestIntegrationRegionRestart(t *testing.T) {
	er := newEnvRig(t, 3)
	er.produceIDs(0, 300)
	cfg := er.config()
	cfg.FlushSize, cfg.RotateInterval = 1000, time.Hour // hold everything in buffers across the outage
	s, _ := er.start(cfg)
	eventually(t, "all records buffered", func() bool { _, n := s.Buffered(); return n == 300 })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, er.region.Stop(ctx))
	require.NoError(t, er.region.Start(ctx))
	er.produceIDs(300, 600)
	drain(t, s)

	seen := er.ids("topics/")
	for id := int64(0); id < 600; id++ {
		require.Positive(t, seen[id], "acked record %d never reached the bucket", id)
	}
	requireExactlyOnce(t, seen, 0, 600)
}

// A burst of 503 SlowDown from the store is ridden out with retries; nothing
// is lost, nothing duplicated.
func TestIntegrationStoreSlowDownBurst(t *testing.T) {
	er := newEnvRig(t, 3)
	er.produceIDs(0, 200)
	s, _ := er.start(er.config())
	drain(t, s)

	er.e.Store().Faults().Inject(env.HTTPFault{Status: 503, Code: "SlowDown", Methods: []string{http.MethodPut}})
	er.produceIDs(200, 500)
	eventually(t, "retries against the faulty store", func() bool { return val(s.m.retries.WithLabelValues("put")) > 0 })
	er.e.Store().Faults().Heal()
	drain(t, s)

	requireExactlyOnce(t, er.ids("topics/"), 0, 500)
}
