package kafkaproxy_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/pipechaos/pipechaos/fakes/kafkaproxy"
)

// A broker the proxy was not told about, seen in metadata, gets a listener
// of its own: the client still only dials the proxy.
func TestUnknownBrokerGetsAListener(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.SeedTopics(2, "u"))
	require.NoError(t, err)
	t.Cleanup(kc.Close)
	p, err := kafkaproxy.Start(kafkaproxy.Config{Brokers: map[int32]string{0: kc.ListenAddrs()[0]}, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	f := &fixture{kc: kc, p: p}
	ctx := ctxT(t, 60*time.Second)
	require.NoError(t, kc.MoveTopicPartition("u", 0, 0))
	require.NoError(t, kc.MoveTopicPartition("u", 1, 1))
	cl, dl := f.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Topic: "u", Partition: int32(i % 2), Value: []byte("x")}
		require.NoError(t, cl.ProduceSync(ctx, r).FirstErr())
	}
	require.Len(t, p.Addrs(), 2, "node 1 got a listener")
	require.Positive(t, p.Stats().Node(1).Seen, "requests reached node 1 through its new listener")
	require.NotEmpty(t, p.Addr(1))
	requireOnlyProxy(t, p, dl)
}

// Fetch errors: the consumer meets them, and once the count is spent it
// consumes everything.
func TestFetchErrorThenConsume(t *testing.T) {
	f := newFixture(t, 1, kfake.SeedTopics(1, "fe"))
	ctx := ctxT(t, 60*time.Second)
	prod, _ := f.client(t)
	produce(ctx, t, prod, "fe", 0, 20)
	fault, err := f.p.Inject(kafkaproxy.Rule{Key: 1, Topic: "fe", Count: 3, Action: kafkaproxy.Error{Code: 6}})
	require.NoError(t, err)
	cons, _ := f.client(t, kgo.ConsumeTopics("fe"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := consumeAll(ctx, t, cons, 20)
	require.Len(t, seen, 20)
	require.EqualValues(t, 3, fault.Hits())
	require.EqualValues(t, 3, f.p.Stats().Key(1).Answered)
}

// A faulted acks=0 produce gets no answer (a broker sends none): the
// connection stays in step and the records never reach the broker.
func TestAcksZeroProduceIsSwallowed(t *testing.T) {
	f := newFixture(t, 1, kfake.SeedTopics(1, "z"))
	ctx := ctxT(t, 60*time.Second)
	cl, _ := f.client(t, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite(), kgo.DefaultProduceTopic("z"))
	fault, err := f.p.Inject(kafkaproxy.Rule{Key: 0, Action: kafkaproxy.Error{Code: -1}})
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Value: []byte("lost")}).FirstErr())
	}
	// acks=0: the client is done once the request is written, maybe before
	// the proxy read it; heal only once all five met the rule.
	require.Eventually(t, func() bool { return fault.Hits() == 5 }, 30*time.Second, 5*time.Millisecond)
	fault.Heal()
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Value: []byte("kept")}).FirstErr())

	// Read the log end through the proxy on the same client: the
	// connection is still in step, and only the healed record landed.
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "z"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	require.Eventually(t, func() bool {
		resp, err := req.RequestWith(ctx, cl)
		return err == nil && resp.Topics[0].Partitions[0].Offset == 1
	}, 30*time.Second, 20*time.Millisecond, "exactly the one healed record is in the log")
}

// A broker that is down: its proxy listener still accepts, so the client's
// connection must fail the way a refused dial would, as a network error
// clients retry. The proxy resets it. A FIN instead reads as an immediate
// EOF, which franz-go takes for a TLS or SASL mismatch and does not retry:
// an idempotent producer that asked that broker for its producer ID would
// fail every buffered record.
func TestDeadBrokerConnectionIsReset(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.SeedTopics(1, "down"))
	require.NoError(t, err)
	t.Cleanup(kc.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close())
	p, err := kafkaproxy.Start(kafkaproxy.Config{Brokers: map[int32]string{0: kc.ListenAddrs()[0], 1: dead}, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	f := &fixture{kc: kc, p: p}
	ctx := ctxT(t, 60*time.Second)

	// A raw connection that sends nothing: only a reset tells it apart
	// from a broker that hung up politely (a FIN reads as io.EOF).
	// The reset may come so fast that the dial itself reports it.
	raw, err := net.Dial("tcp", p.Addr(1))
	if err == nil {
		defer raw.Close()
		require.NoError(t, raw.SetReadDeadline(time.Now().Add(30*time.Second)))
		_, err = raw.Read(make([]byte, 1))
	}
	require.ErrorIs(t, err, syscall.ECONNRESET, "the dead broker's connection must be reset, not closed")

	// And what a client makes of it: a network error, not the
	// first-read EOF it does not retry.
	cl, _ := f.client(t)
	require.NoError(t, cl.Ping(ctx))
	_, err = cl.Broker(1).Request(ctx, kmsg.NewPtrInitProducerIDRequest())
	require.Error(t, err)
	var eof *kgo.ErrFirstReadEOF
	require.False(t, errors.As(err, &eof), "the dead broker's connection read as an immediate EOF: %v", err)
	require.ErrorIs(t, err, syscall.ECONNRESET)
	require.Positive(t, p.Stats().DialErrors)
}
