package protoproxy_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/fakes/kafka"
	"github.com/pipechaos/pipechaos/fakes/kafkaproxy"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/protoproxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// region is a 3-broker kfake region whose brokers crash and restart on
// their ports, with a Front over it.
func region(t *testing.T, topic string) (*kafka.Cluster, *protoproxy.Front) {
	t.Helper()
	c, err := kafka.Start(kafka.Config{Ports: []int{0, 0, 0}, Opts: []kfake.Opt{kfake.SeedTopics(3, topic)}})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	up := map[int32]string{}
	for i, a := range c.Addrs() {
		up[int32(i)] = a
	}
	f, err := protoproxy.New(kafkaproxy.Config{Brokers: up, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, f.Close()) })
	return c, f
}

func client(t *testing.T, f *protoproxy.Front, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(env.ClientOpts(f.Bootstrap()), opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

func produce(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}).FirstErr(), "record %d", i)
	}
}

// The env interfaces on a Front: a failing OffsetCommit (what
// rerun-duplicates injects) and slowed produce requests, each healed.
func TestFrontProtocolFaultsHeal(t *testing.T) {
	_, f := region(t, "payments")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod := client(t, f)
	produce(ctx, t, prod, "payments", 0, 6)

	cons := client(t, f, kgo.ConsumeTopics("payments"), kgo.ConsumerGroup("sink"), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var recs []*kgo.Record
	for len(recs) < 6 {
		recs = append(recs, cons.PollFetches(ctx).Records()...)
		require.NoError(t, ctx.Err())
	}

	var pf env.ProtocolFaulter = f
	heal, err := pf.InjectError(env.ProtocolFault{Key: 8, ErrCode: -1, Count: -1})
	require.NoError(t, err)
	require.ErrorIs(t, cons.CommitRecords(ctx, recs...), kerr.UnknownServerError)
	require.ErrorIs(t, cons.CommitRecords(ctx, recs...), kerr.UnknownServerError, "until healed")
	require.GreaterOrEqual(t, f.Stats().Key(8).Answered, int64(2))
	heal()
	require.NoError(t, cons.CommitRecords(ctx, recs...))

	var rs env.RequestSlower = f
	const d = 300 * time.Millisecond
	heal, err = rs.SlowRequests(0, d)
	require.NoError(t, err)
	before := f.Stats().Key(0).Faulted
	start := time.Now()
	produce(ctx, t, prod, "payments", 6, 1)
	require.GreaterOrEqual(t, time.Since(start), d)
	require.Greater(t, f.Stats().Key(0).Faulted, before, "the delay met the produce")
	heal()
	before = f.Stats().Key(0).Faulted
	produce(ctx, t, prod, "payments", 7, 1)
	require.Equal(t, before, f.Stats().Key(0).Faulted, "healed: no request delayed")
}

func TestFrontRefusesWhatItCannotDo(t *testing.T) {
	_, f := region(t, "x")
	_, err := f.InjectError(env.ProtocolFault{Key: 19, ErrCode: 7})
	require.ErrorIs(t, err, env.ErrUnsupported)
	_, err = f.InjectError(env.ProtocolFault{Key: 8, ErrCode: 12345})
	require.ErrorContains(t, err, "kafka error code 12345 is unknown")
	_, err = f.SlowRequests(0, 0)
	require.ErrorContains(t, err, "delay must be positive")
}

// The front outlives a broker's crash and restart on its address: clients
// keep producing and consuming through the same bootstrap.
func TestFrontSurvivesBrokerRestart(t *testing.T) {
	c, f := region(t, "orders")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bootstrap := f.Bootstrap()
	prod := client(t, f, kgo.RequestRetries(100))
	produce(ctx, t, prod, "orders", 0, 20)

	require.NoError(t, c.CrashBroker(0))
	produce(ctx, t, prod, "orders", 20, 20) // partitions moved to brokers 1 and 2
	require.NoError(t, c.RestartBroker(0))
	// Only the restarted broker is left: every partition is on it, and the
	// client reaches it only if the front reconnects to it.
	require.NoError(t, c.CrashBroker(1))
	require.NoError(t, c.CrashBroker(2))
	produce(ctx, t, prod, "orders", 40, 20)
	require.NoError(t, c.RestartBroker(1))
	require.NoError(t, c.RestartBroker(2))
	require.Equal(t, bootstrap, f.Bootstrap(), "the front's addresses never changed")

	cons := client(t, f, kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < 60 {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
		require.NoError(t, ctx.Err(), "consumed %d of 60", len(seen))
	}
}
