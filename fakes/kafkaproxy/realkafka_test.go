package kafkaproxy_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/pipechaos/pipechaos/fakes/kafkaproxy"
	"github.com/pipechaos/pipechaos/fakes/kafkaproxy/realkafka"
)

// The proxy in front of one real Apache Kafka node (combined KRaft broker
// and controller, the distribution scripts/kafka-dist.sh resolves): a
// client seeded with the proxy produces, consumes in a group and commits;
// a commit fault fails the commit with exactly its code and heals; a delay
// holds a produce; every request the client sent was readable by kmsg.
func TestRealKafkaThroughProxy(t *testing.T) {
	addr := realkafka.Start(t)
	p, err := kafkaproxy.Start(kafkaproxy.Config{Brokers: map[int32]string{1: addr}, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	f := &fixture{p: p}
	ctx := ctxT(t, 2*time.Minute)
	t0 := time.Now()

	admin, adl := f.client(t)
	_, err = kadm.NewClient(admin).CreateTopic(ctx, 3, 1, nil, "real")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return admin.ProduceSync(ctx, &kgo.Record{Topic: "real", Value: []byte("0")}).FirstErr() == nil
	}, time.Minute, 100*time.Millisecond, "the new topic never took a produce")
	produce(ctx, t, admin, "real", 1, 29)
	t.Logf("topic created, 30 records produced: %s", time.Since(t0).Round(time.Millisecond))

	cons, cdl := f.client(t, kgo.ConsumeTopics("real"), kgo.ConsumerGroup("real-sink"), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var recs []*kgo.Record
	for len(recs) < 30 {
		recs = append(recs, cons.PollFetches(ctx).Records()...)
		require.NoError(t, ctx.Err(), "consumed %d of 30", len(recs))
	}
	t.Logf("consumed in a group: %s", time.Since(t0).Round(time.Millisecond))
	fault, err := p.Inject(kafkaproxy.Rule{Key: 8, Action: kafkaproxy.Error{Code: -1}})
	require.NoError(t, err)
	require.ErrorIs(t, cons.CommitRecords(ctx, recs...), kerr.UnknownServerError)
	require.Positive(t, fault.Hits())
	fault.Heal()
	require.NoError(t, cons.CommitRecords(ctx, recs...))
	offs, err := kadm.NewClient(admin).FetchOffsets(ctx, "real-sink")
	require.NoError(t, err)
	var committed int64
	offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
	require.EqualValues(t, 30, committed, "the healed commit reached Kafka")

	const d = 300 * time.Millisecond
	// A topic rule (produce v13, which Kafka 4 serves, names topics by ID;
	// the proxy resolves them from the metadata it relayed).
	slow, err := p.Inject(kafkaproxy.Rule{Key: 0, Topic: "real", Count: 1, Action: kafkaproxy.Delay{Duration: d}})
	require.NoError(t, err)
	start := time.Now()
	produce(ctx, t, admin, "real", 30, 1)
	require.GreaterOrEqual(t, time.Since(start), d)
	require.EqualValues(t, 1, slow.Hits())

	// DescribeCluster is rewritten too.
	dc := kmsg.NewPtrDescribeClusterRequest()
	resp, err := dc.RequestWith(ctx, admin)
	require.NoError(t, err)
	require.Len(t, resp.Brokers, 1)
	require.Equal(t, p.Addr(1), net.JoinHostPort(resp.Brokers[0].Host, strconv.Itoa(int(resp.Brokers[0].Port))))

	requireOnlyProxy(t, p, adl)
	requireOnlyProxy(t, p, cdl)
	require.Zero(t, p.Stats().Unparsed, "a request kmsg could not read went by unseen")
}
