package kafkaproxy_test

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/pipechaos/pipechaos/fakes/kafkaproxy"
)

func produce(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		r := &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}
		require.NoError(t, cl.ProduceSync(ctx, r).FirstErr(), "record %d", i)
	}
}

func consumeAll(ctx context.Context, t *testing.T, cl *kgo.Client, n int) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	for len(seen) < n {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "consumed %d of %d", len(seen), n)
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	return seen
}

// A client seeded only with the proxy produces and consumes across three
// brokers while partition leaders move, and never dials a broker.
func TestProduceConsumeThroughProxyAcrossLeaderMoves(t *testing.T) {
	f := newFixture(t, 3, kfake.SeedTopics(3, "orders"))
	ctx := ctxT(t, 60*time.Second)
	prod, pdl := f.client(t, kgo.DefaultProduceTopic("orders"))

	// kfake places leaders at random, possibly all on one broker: put
	// partition p on broker p first, so that the producer must reach every
	// broker, then move every partition once more while it produces.
	for p := int32(0); p < 3; p++ {
		if f.kc.LeaderFor("orders", p) != p {
			require.NoError(t, f.kc.MoveTopicPartition("orders", p, p))
		}
	}
	produce(ctx, t, prod, "orders", 0, 30)
	leaders := map[int32]int32{}
	for p := int32(0); p < 3; p++ {
		leaders[p] = f.kc.LeaderFor("orders", p)
		require.Equal(t, p, leaders[p], "partition %d is led by broker %d", p, leaders[p])
		require.NoError(t, f.kc.MoveTopicPartition("orders", p, (leaders[p]+1)%3))
	}
	produce(ctx, t, prod, "orders", 30, 30)
	for p := int32(0); p < 3; p++ {
		require.NotEqual(t, leaders[p], f.kc.LeaderFor("orders", p), "partition %d did not move", p)
	}

	cons, cdl := f.client(t, kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := consumeAll(ctx, t, cons, 60)
	for i := 0; i < 60; i++ {
		require.True(t, seen[strconv.Itoa(i)], "record %d not consumed", i)
	}
	requireOnlyProxy(t, f.p, pdl)
	requireOnlyProxy(t, f.p, cdl)
	require.GreaterOrEqual(t, len(pdl.dialed()), 3, "the producer reached every broker (through the proxy)")

	st := f.p.Stats()
	require.Positive(t, st.Key(0).Seen)
	require.Positive(t, st.Key(1).Seen)
	require.Positive(t, st.Key(3).Seen)
	require.Zero(t, st.Key(0).Faulted)
	require.Zero(t, st.Unparsed, "every request was readable by kmsg")
}

// An OffsetCommit error fault makes a group member's commit fail with
// exactly that code; healing restores commits.
func TestOffsetCommitErrorAndHeal(t *testing.T) {
	f := newFixture(t, 3, kfake.SeedTopics(2, "payments"))
	ctx := ctxT(t, 60*time.Second)
	prod, _ := f.client(t)
	produce(ctx, t, prod, "payments", 0, 10)

	cons, dl := f.client(t, kgo.ConsumeTopics("payments"), kgo.ConsumerGroup("sink"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var recs []*kgo.Record
	for len(recs) < 10 {
		fs := cons.PollFetches(ctx)
		require.NoError(t, ctx.Err())
		recs = append(recs, fs.Records()...)
	}

	fault, err := f.p.Inject(kafkaproxy.Rule{Key: 8, Action: kafkaproxy.Error{Code: -1}}) // UNKNOWN_SERVER_ERROR
	require.NoError(t, err)
	err = cons.CommitRecords(ctx, recs...)
	require.ErrorIs(t, err, kerr.UnknownServerError, "the commit must fail with exactly the injected code")
	require.Positive(t, fault.Hits())
	require.Equal(t, fault.Hits(), f.p.Stats().Key(8).Answered)
	require.Equal(t, fault.Hits(), f.p.Stats().Key(8).Faulted)

	fault.Heal()
	require.NoError(t, cons.CommitRecords(ctx, recs...), "after heal the commit goes through")

	// The commit really landed at the broker: fetch it back.
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = "sink"
	resp, err := req.RequestWith(ctx, prod)
	require.NoError(t, err)
	committed := map[int32]int64{}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			committed[p.Partition] = p.Offset
		}
	}
	require.EqualValues(t, 10, committed[0]+committed[1], "committed offsets cover the 10 records")
	requireOnlyProxy(t, f.p, dl)
}

// A delay on Produce holds the ack for at least the delay; a heal wakes
// held requests at once.
func TestDelayHoldsProduceUntilElapsedOrHealed(t *testing.T) {
	f := newFixture(t, 1, kfake.SeedTopics(1, "slow"))
	ctx := ctxT(t, 60*time.Second)
	cl, _ := f.client(t, kgo.DefaultProduceTopic("slow"))
	produce(ctx, t, cl, "slow", 0, 1) // connections and producer id set up

	const d = 400 * time.Millisecond
	fault, err := f.p.Inject(kafkaproxy.Rule{Key: 0, Count: 1, Action: kafkaproxy.Delay{Duration: d}})
	require.NoError(t, err)
	start := time.Now()
	produce(ctx, t, cl, "slow", 1, 1)
	took := time.Since(start)
	require.EqualValues(t, 1, fault.Hits(), "the delay met exactly one produce")
	require.GreaterOrEqual(t, took, d, "the ack came before the delay elapsed")
	produce(ctx, t, cl, "slow", 2, 1)
	require.EqualValues(t, 1, fault.Hits(), "a count-1 rule retires after one request")
	require.EqualValues(t, 1, f.p.Stats().Key(0).Faulted)
	require.Zero(t, f.p.Stats().Key(0).Answered)

	// An hour-long delay, healed once it holds a request.
	hold, err := f.p.Inject(kafkaproxy.Rule{Key: 0, Action: kafkaproxy.Delay{Duration: time.Hour}})
	require.NoError(t, err)
	done := make(chan error, 1)
	cl.Produce(ctx, &kgo.Record{Value: []byte("held")}, func(_ *kgo.Record, err error) { done <- err })
	require.Eventually(t, func() bool { return hold.Hits() == 1 }, 30*time.Second, 5*time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("produce completed while held: %v", err)
	default:
	}
	hold.Heal()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("healing did not release the held produce")
	}
}

// A counted error fault fails exactly Count requests; a retriable code is
// retried by the client, which then succeeds.
func TestCountedRetriableErrorOnProduce(t *testing.T) {
	f := newFixture(t, 2, kfake.SeedTopics(1, "t"))
	ctx := ctxT(t, 60*time.Second)
	cl, _ := f.client(t)
	produce(ctx, t, cl, "t", 0, 1)
	fault, err := f.p.Inject(kafkaproxy.Rule{Key: 0, Count: 2, Action: kafkaproxy.Error{Code: 6}}) // NOT_LEADER_OR_FOLLOWER
	require.NoError(t, err)
	produce(ctx, t, cl, "t", 1, 1)
	require.EqualValues(t, 2, fault.Hits())
	require.EqualValues(t, 2, f.p.Stats().Key(0).Answered)
	produce(ctx, t, cl, "t", 2, 3)
	require.EqualValues(t, 2, fault.Hits())
}

// A topic rule meets only requests that name the topic.
func TestTopicRuleMeetsOnlyItsTopic(t *testing.T) {
	f := newFixture(t, 1, kfake.SeedTopics(1, "a", "b"))
	ctx := ctxT(t, 60*time.Second)
	cl, _ := f.client(t, kgo.RecordRetries(0), kgo.DisableIdempotentWrite())
	produce(ctx, t, cl, "a", 0, 1)
	produce(ctx, t, cl, "b", 0, 1)
	fault, err := f.p.Inject(kafkaproxy.Rule{Key: 0, Topic: "a", Action: kafkaproxy.Error{Code: 87}}) // INVALID_RECORD, not retried
	require.NoError(t, err)
	produce(ctx, t, cl, "b", 1, 3)
	require.Zero(t, fault.Hits())
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "a", Value: []byte("x")}).FirstErr()
	require.ErrorIs(t, err, kerr.InvalidRecord)
	require.EqualValues(t, 1, fault.Hits())
}

// Probability draws from the seeded source: the same seed and the same
// requests fault the same ones.
func TestProbabilityIsSeeded(t *testing.T) {
	run := func() []bool {
		f := newFixture(t, 1, kfake.SeedTopics(1, "p"))
		ctx := ctxT(t, 60*time.Second)
		cl, _ := f.client(t)
		_, err := f.p.Inject(kafkaproxy.Rule{Key: 2, Probability: 0.5, Action: kafkaproxy.Error{Code: 3}})
		require.NoError(t, err)
		var got []bool
		for i := 0; i < 60; i++ {
			req := kmsg.NewPtrListOffsetsRequest()
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = "p"
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Timestamp = -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl.Broker(0))
			require.NoError(t, err)
			got = append(got, resp.Topics[0].Partitions[0].ErrorCode == 3)
		}
		return got
	}
	a, b := run(), run()
	require.Equal(t, a, b, "same seed, same faulted requests")
	n := 0
	for _, x := range a {
		if x {
			n++
		}
	}
	require.True(t, n > 5 && n < 55, "about half faulted, got %d of 60", n)
}

func TestInjectRefusesBadRules(t *testing.T) {
	f := newFixture(t, 1)
	for _, c := range []struct {
		r    kafkaproxy.Rule
		want string
	}{
		{kafkaproxy.Rule{Key: 19, Action: kafkaproxy.Error{Code: 7}}, "cannot build an error response for API key 19 (CreateTopics)"},
		{kafkaproxy.Rule{Key: 8, Action: kafkaproxy.Error{Code: 0}}, "kafka error code 0 is unknown"},
		{kafkaproxy.Rule{Key: 8, Action: kafkaproxy.Error{Code: 9999}}, "kafka error code 9999 is unknown"},
		{kafkaproxy.Rule{Key: 0, Action: kafkaproxy.Delay{}}, "delay must be positive"},
		{kafkaproxy.Rule{Key: -1, Action: kafkaproxy.Delay{Duration: -1}}, "delay must be positive"},
		{kafkaproxy.Rule{Key: 999, Action: kafkaproxy.Delay{Duration: 1}}, "API key 999 is unknown"},
		{kafkaproxy.Rule{Key: 0, Probability: 2, Action: kafkaproxy.Delay{Duration: 1}}, "probability 2 is outside"},
		{kafkaproxy.Rule{Key: 0}, "has no action"},
	} {
		_, err := f.p.Inject(c.r)
		require.ErrorContains(t, err, c.want, "%+v", c.r)
	}
	_, err := kafkaproxy.Start(kafkaproxy.Config{})
	require.ErrorContains(t, err, "no brokers")
	_, err = kafkaproxy.Start(kafkaproxy.Config{Brokers: map[int32]string{0: "127.0.0.1:1"}, ListenHost: "0.0.0.0"})
	require.ErrorContains(t, err, "not a loopback address")
	_, err = kafkaproxy.Start(kafkaproxy.Config{Brokers: map[int32]string{0: "nowhere"}})
	require.ErrorContains(t, err, "not host:port")
}

// Close leaves no listener and no connection behind (goroutines are
// checked by TestMain).
func TestCloseLeavesNoListener(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.SeedTopics(1, "c"))
	require.NoError(t, err)
	defer kc.Close()
	up := map[int32]string{0: kc.ListenAddrs()[0], 1: kc.ListenAddrs()[1]}
	p, err := kafkaproxy.Start(kafkaproxy.Config{Brokers: up})
	require.NoError(t, err)
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Bootstrap()...))
	require.NoError(t, err)
	ctx := ctxT(t, 30*time.Second)
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: "c", Value: []byte("x")}).FirstErr())
	_, err = p.Inject(kafkaproxy.Rule{Key: 0, Action: kafkaproxy.Delay{Duration: time.Hour}})
	require.NoError(t, err)
	cl.Produce(ctx, &kgo.Record{Topic: "c", Value: []byte("held")}, nil)
	addrs := p.Bootstrap()
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "Close is idempotent")
	for _, a := range addrs {
		c, err := net.DialTimeout("tcp", a, time.Second)
		if err == nil {
			c.Close()
		}
		require.Error(t, err, "listener %s still accepts after Close", a)
	}
	cl.Close()
	_, err = p.Inject(kafkaproxy.Rule{Key: 0, Action: kafkaproxy.Delay{Duration: 1}})
	require.Error(t, err)
}

// Every error response the proxy builds encodes and decodes at every
// version kmsg knows, and carries the code where a client reads it.
func TestErrorResponsesAtEveryVersion(t *testing.T) {
	for _, key := range kafkaproxy.ErrorKeys() {
		req := kmsg.RequestForKey(key)
		for v := int16(0); v <= req.MaxVersion(); v++ {
			t.Run(fmt.Sprintf("%s/v%d", kmsg.NameForKey(key), v), func(t *testing.T) {
				q := sampleRequest(t, key, v)
				resp := kafkaproxy.ErrorResponse(q, 6)
				require.NotNil(t, resp)
				b := resp.AppendTo(nil)
				back := q.ResponseKind()
				back.SetVersion(v)
				require.NoError(t, back.ReadFrom(b))
				require.Positive(t, countCode(reflect.ValueOf(back), 6), "no level of the response carries the code")
			})
		}
	}
}

// A port already taken fails Start with the node named, and leaves
// nothing open.
func TestStartFailsOnATakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	_, err = kafkaproxy.Start(kafkaproxy.Config{
		Brokers: map[int32]string{0: "127.0.0.1:1", 1: "127.0.0.1:2"},
		Ports:   map[int32]int{1: port},
	})
	require.ErrorContains(t, err, "listen for broker 1")
}

// Rules come and go while traffic flows (run with -race): a node rule
// meets only its broker, and every request is counted once.
func TestRulesChangeUnderTraffic(t *testing.T) {
	f := newFixture(t, 2, kfake.SeedTopics(2, "churn"))
	ctx := ctxT(t, 60*time.Second)
	require.NoError(t, f.kc.MoveTopicPartition("churn", 0, 0))
	require.NoError(t, f.kc.MoveTopicPartition("churn", 1, 1))
	cl, _ := f.client(t, kgo.DefaultProduceTopic("churn"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	node1, err := f.p.Inject(kafkaproxy.Rule{Key: 0, Nodes: []int32{1}, Action: kafkaproxy.Delay{Duration: time.Millisecond}})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 50 && ctx.Err() == nil; i++ {
			r, err := f.p.Inject(kafkaproxy.Rule{Key: -1, Probability: 0.5, Action: kafkaproxy.Delay{Duration: time.Millisecond}})
			if err != nil {
				return
			}
			time.Sleep(time.Millisecond)
			r.Heal()
		}
	}()
	for i := 0; i < 100; i++ {
		r := &kgo.Record{Partition: int32(i % 2), Value: []byte("x")}
		require.NoError(t, cl.ProduceSync(ctx, r).FirstErr())
	}
	<-done
	st := f.p.Stats()
	require.EqualValues(t, 50, node1.Hits(), "the node-1 rule met exactly the 50 produces to partition 1's leader")
	var byKey, byNode int64
	for _, ks := range st.ByKey {
		byKey += ks.Seen
	}
	for _, ns := range st.ByNode {
		byNode += ns.Seen
	}
	require.Equal(t, byKey, byNode, "each request counted once")
	require.Positive(t, st.Node(0).Seen)
}
