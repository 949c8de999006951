package embedded_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/embedded"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newEnv(t *testing.T) *embedded.Environment {
	t.Helper()
	cfg, err := env.NewConfig(env.Backend(env.Embedded))
	require.NoError(t, err)
	e, err := embedded.New(t, cfg)
	require.NoError(t, err)
	return e
}

// roundTrip produces one record to topic in region and reads it back.
func roundTrip(t *testing.T, ctx context.Context, r env.Region, topic, value string) {
	t.Helper()
	cl, err := r.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(value)}).FirstErr())
	for {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "record %q never came back from %s", value, r.Name())
		found := false
		fs.EachRecord(func(rec *kgo.Record) { found = found || string(rec.Value) == value })
		if found {
			return
		}
	}
}

func TestRegionsRegistryAndStore(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range []string{env.Primary, env.Secondary} {
		r := e.Region(name)
		require.NotNil(t, r)
		require.Len(t, r.Bootstrap(), 3)
		require.NoError(t, r.CreateTopic(ctx, "t", 1))
		require.NoError(t, r.CreateTopic(ctx, "t", 1), "creating an existing topic is not an error")
		roundTrip(t, ctx, r, "t", "hello "+name)
	}

	src, err := sr.NewClient(sr.URLs(e.Registry().URL()))
	require.NoError(t, err)
	ss, err := src.CreateSchema(ctx, "t-value", sr.Schema{Schema: `{"type":"string"}`})
	require.NoError(t, err)
	require.Positive(t, ss.ID)

	st, err := harness.StoreClient(e.Store())
	require.NoError(t, err)
	_, err = st.PutObject(ctx, e.Store().Bucket(), "k", bytes.NewReader([]byte("v")), 1, minio.PutObjectOptions{})
	require.NoError(t, err)
	obj, err := st.GetObject(ctx, e.Store().Bucket(), "k", minio.GetObjectOptions{})
	require.NoError(t, err)
	defer obj.Close()
	b, err := io.ReadAll(obj)
	require.NoError(t, err)
	require.Equal(t, "v", string(b))
	require.Positive(t, e.Store().Faults().Stats().Requests, "store requests are counted")
}

func TestRegionFaultsHeal(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := e.Region(env.Primary)
	require.NoError(t, r.CreateTopic(ctx, "t", 3))
	roundTrip(t, ctx, r, "t", "before")

	require.NoError(t, r.Stop(ctx))
	require.NoError(t, r.Stop(ctx), "stop is idempotent")
	require.NoError(t, r.Start(ctx))
	roundTrip(t, ctx, r, "t", "after region restart")

	require.NoError(t, r.CrashBroker(ctx, 1))
	roundTrip(t, ctx, r, "t", "with broker 1 down")
	require.NoError(t, r.RestartBroker(ctx, 1))
	roundTrip(t, ctx, r, "t", "with broker 1 back")

	require.NoError(t, r.Isolate(ctx, 2))
	conn, err := net.Dial("tcp", r.Bootstrap()[2])
	require.NoError(t, err)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "an isolated broker drops every connection")
	conn.Close()
	require.NoError(t, r.Reconnect(ctx, 2))
	roundTrip(t, ctx, r, "t", "with broker 2 reconnected")

	pf, ok := r.(env.ProtocolFaulter)
	require.True(t, ok)
	heal, err := pf.InjectError(env.ProtocolFault{Key: 0, ErrCode: 6, Count: 2})
	require.NoError(t, err)
	roundTrip(t, ctx, r, "t", "through two NOT_LEADER answers")
	heal()

	rs, ok := r.(env.RequestSlower)
	require.True(t, ok)
	heal, err = rs.SlowRequests(0, 200*time.Millisecond)
	require.NoError(t, err)
	roundTrip(t, ctx, r, "t", "slowly")
	heal()
}

func TestRegistryAndStoreOutages(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := harness.StoreClient(e.Store())
	require.NoError(t, err)

	require.NoError(t, e.Store().Stop(ctx))
	_, err = st.BucketExists(ctx, e.Store().Bucket())
	require.Error(t, err, "a stopped store refuses connections")
	require.NoError(t, e.Store().Start(ctx))
	ok, err := st.BucketExists(ctx, e.Store().Bucket())
	require.NoError(t, err)
	require.True(t, ok, "the bucket survives a store restart")

	e.Store().Faults().Inject(env.HTTPFault{Status: 503, Code: "SlowDown"})
	_, err = st.BucketExists(ctx, e.Store().Bucket())
	require.Error(t, err)
	e.Store().Faults().Heal()
	_, err = st.BucketExists(ctx, e.Store().Bucket())
	require.NoError(t, err)

	src, err := sr.NewClient(sr.URLs(e.Registry().URL()))
	require.NoError(t, err)
	require.NoError(t, e.Registry().Stop(ctx))
	_, err = src.Subjects(ctx)
	require.Error(t, err)
	require.NoError(t, e.Registry().Start(ctx))
	_, err = src.Subjects(ctx)
	require.NoError(t, err)
}
