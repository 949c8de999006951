package nodes_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/nodes"
)

func newEnv(t testing.TB) env.Environment {
	t.Helper()
	nodes.RequireAvailable(t)
	cfg, err := env.NewConfig(env.Backend(env.Nodes), env.Logf(t.Logf))
	require.NoError(t, err)
	e, err := nodes.New(t, cfg)
	require.NoError(t, err)
	return e
}

// produce writes one record with acks=all and waits for its answer.
func produce(ctx context.Context, cl *kgo.Client, topic, value string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(value)}).FirstErr()
}

// TestEnvironment starts the backend, checks every region is a three-node
// replicated cluster, and takes one broker through each fault.
func TestEnvironment(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, name := range []string{env.Primary, env.Secondary} {
		r := e.Region(name)
		require.NotNil(t, r)
		rep, ok := r.(env.Replicated)
		require.True(t, ok, "a nodes region is replicated")
		require.Equal(t, 3, rep.ReplicationFactor())
		require.Equal(t, 2, rep.MinInsyncReplicas())
		require.NoError(t, r.CreateTopic(ctx, "t", 3))
		cl, err := r.Client()
		require.NoError(t, err)
		md, err := kadm.NewClient(cl).Metadata(ctx, "t")
		require.NoError(t, err)
		require.Len(t, md.Brokers, 3)
		for _, p := range md.Topics["t"].Partitions {
			require.Len(t, p.Replicas, 3, "replication factor 3")
		}
		require.NoError(t, produce(ctx, cl, "t", "hello "+name))
		cl.Close()
	}

	r := e.Region(env.Primary)
	cl, err := r.Client(kgo.RequiredAcks(kgo.AllISRAcks()))
	require.NoError(t, err)
	defer cl.Close()

	t.Run("crash and restart", func(t *testing.T) {
		require.NoError(t, r.CrashBroker(ctx, 1))
		require.NoError(t, produce(ctx, cl, "t", "one broker down"))
		require.NoError(t, r.RestartBroker(ctx, 1))
		require.NoError(t, produce(ctx, cl, "t", "back"))
	})
	t.Run("pause and resume", func(t *testing.T) {
		pr := r.(env.BrokerPauser)
		require.NoError(t, pr.PauseBroker(ctx, 2))
		require.NoError(t, pr.ResumeBroker(ctx, 2))
		require.NoError(t, produce(ctx, cl, "t", "thawed"))
	})
	t.Run("isolate", func(t *testing.T) {
		if !e.(*nodes.Environment).Namespaces() {
			t.Skip("no network namespaces here")
		}
		require.NoError(t, r.Isolate(ctx, 0))
		probe, err := kgo.NewClient(kgo.SeedBrokers(r.Bootstrap()[0]), kgo.DialTimeout(time.Second))
		require.NoError(t, err)
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err = probe.Ping(pctx)
		cancel()
		probe.Close()
		require.Error(t, err, "an isolated broker must not answer")
		require.NoError(t, r.Reconnect(ctx, 0))
		require.NoError(t, produce(ctx, cl, "t", "reconnected"))
	})
	t.Run("isolate from peers", func(t *testing.T) {
		if !e.(*nodes.Environment).Namespaces() {
			t.Skip("no network namespaces here")
		}
		pp := r.(env.PeerPartitioner)
		require.NoError(t, pp.IsolateFromPeers(ctx, 0))
		probe, err := kgo.NewClient(kgo.SeedBrokers(r.Bootstrap()[0]))
		require.NoError(t, err)
		require.NoError(t, probe.Ping(ctx), "clients still reach a broker cut from its peers")
		probe.Close()
		require.NoError(t, pp.HealPeers(ctx, 0))
	})
	t.Run("region stop and start", func(t *testing.T) {
		require.NoError(t, r.Stop(ctx))
		require.NoError(t, r.Start(ctx))
		require.NoError(t, produce(ctx, cl, "t", "region back"))
	})
	t.Run("store and registry", func(t *testing.T) {
		require.NoError(t, e.Store().Stop(ctx))
		require.NoError(t, e.Store().Start(ctx))
		require.NoError(t, e.Registry().Stop(ctx))
		require.NoError(t, e.Registry().Start(ctx))
		require.Positive(t, e.Store().Faults().Stats().Requests+1)
	})
	require.NoError(t, e.Close())
	out, _ := exec.Command("ip", "netns", "list").Output()
	require.NotContains(t, string(out), e.(*nodes.Environment).Session(), "namespaces left after Close")
	rules, _ := exec.Command("iptables", "-S").Output()
	require.False(t, strings.Contains(string(rules), e.(*nodes.Environment).Session()), "rules left after Close")
}
