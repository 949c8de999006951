package containers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/containers"
)

// newEnv starts the containers backend for tb, or skips (fails with
// CI=true) when Docker or the images are missing.
func newEnv(tb testing.TB, brokers int, opts ...containers.Opt) env.Environment {
	tb.Helper()
	containers.RequireAvailable(tb)
	cfg, err := env.NewConfig(env.Backend(env.Containers), env.BrokersPerRegion(brokers), env.Logf(tb.Logf))
	require.NoError(tb, err)
	e, err := containers.New(tb, cfg, opts...)
	require.NoError(tb, err)
	return e
}

// TestEnvironment starts the environment with the configured Kafka image
// (real Apache Kafka unless PIPECHAOS_KAFKA_IMAGE says otherwise), uses
// every role through its clients, runs every fault and proves the same
// clients recover.
func TestEnvironment(t *testing.T) { testEnvironment(t) }

// TestEnvironmentFakeKafka runs the same on the kfake image, the fast
// option, whose protocol faults go through its own control API.
func TestEnvironmentFakeKafka(t *testing.T) {
	if c, err := containers.NewConfig(); err == nil && c.KafkaImage == containers.FakeKafkaImage {
		t.Skip("TestEnvironment runs on the kfake image already (PIPECHAOS_KAFKA_IMAGE)")
	}
	testEnvironment(t, containers.KafkaImage(containers.FakeKafkaImage))
}

func testEnvironment(t *testing.T, opts ...containers.Opt) {
	e := newEnv(t, 3, opts...)
	require.Equal(t, env.Containers, e.Backend())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	kc := map[string]*kgo.Client{}
	for _, name := range []string{env.Primary, env.Secondary} {
		r := e.Region(name)
		require.NotNil(t, r, name)
		require.Len(t, r.Bootstrap(), 3)
		require.Equal(t, []int32{0, 1, 2}, r.Brokers())
		require.NoError(t, r.CreateTopic(ctx, "t", 3))
		require.NoError(t, r.CreateTopic(ctx, "t", 3), "creating an existing topic is not an error")
		cl, err := r.Client(kgo.DefaultProduceTopic("t"), kgo.RecordDeliveryTimeout(30*time.Second))
		require.NoError(t, err)
		t.Cleanup(cl.Close)
		kc[name] = cl
		require.NoError(t, produce(ctx, cl, name+"-first", 20*time.Second))
		requireConsumed(ctx, t, r, name+"-first")
	}
	primary := e.Region(env.Primary)
	pcl := kc[env.Primary]

	// Registry: register a schema through the fault layer.
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	reg := e.Registry()
	id, err := register(ctx, hc, reg.URL(), "t-value")
	require.NoError(t, err)
	require.Positive(t, id)

	// Store: put and get through the fault layer with minio-go.
	st := e.Store()
	mtr := &http.Transport{}
	t.Cleanup(mtr.CloseIdleConnections)
	mc, err := minio.New(st.Endpoint(), &minio.Options{
		Creds: credentials.NewStaticV4(st.AccessKey(), st.SecretKey(), ""), Transport: mtr,
		MaxRetries: 1,
	})
	require.NoError(t, err)
	require.NoError(t, put(ctx, mc, st.Bucket(), "a", "hello"))
	requireGet(ctx, t, mc, st.Bucket(), "a", "hello")

	t.Run("region stop start", func(t *testing.T) {
		require.NoError(t, primary.Stop(ctx))
		require.NoError(t, primary.Stop(ctx), "Stop is idempotent")
		requireUnreachable(ctx, t, primary)
		require.NoError(t, primary.Start(ctx))
		require.NoError(t, primary.Start(ctx), "Start is idempotent")
		require.NoError(t, produce(ctx, pcl, "after-stop", 30*time.Second))
		requireConsumed(ctx, t, primary, "primary-first") // data kept
	})
	t.Run("broker crash restart", func(t *testing.T) {
		for _, n := range primary.Brokers() {
			require.NoError(t, primary.CrashBroker(ctx, n))
			require.NoError(t, produce(ctx, pcl, "crashed", 30*time.Second), "broker %d down", n)
			require.NoError(t, primary.RestartBroker(ctx, n))
			require.NoError(t, produce(ctx, pcl, "restarted", 30*time.Second))
			// Real replicas: the next crash may take the only in-sync
			// copy unless the restarted broker has caught up first.
			requireInSync(ctx, t, pcl, "t")
		}
	})
	t.Run("broker isolate reconnect", func(t *testing.T) {
		require.NoError(t, primary.Isolate(ctx, 1))
		requireConnClosed(t, primary.Bootstrap()[1])
		require.NoError(t, primary.Reconnect(ctx, 1))
		require.NoError(t, produce(ctx, pcl, "reconnected", 30*time.Second))
	})
	t.Run("broker pause unpause", func(t *testing.T) {
		bp := primary.(env.BrokerPauser)
		require.NoError(t, bp.PauseBroker(ctx, 2))
		requireNoAnswer(ctx, t, primary.Bootstrap()[2])
		require.NoError(t, bp.ResumeBroker(ctx, 2))
		require.NoError(t, produce(ctx, pcl, "broker-unpaused", 30*time.Second))
	})
	t.Run("broker split from peers", func(t *testing.T) {
		pp, ok := primary.(env.PeerPartitioner)
		if !ok {
			t.Skip("a pipechaos-kafka region is one process: its brokers have no peers to be split from")
		}
		rep := primary.(env.Replicated)
		require.Equal(t, 3, rep.ReplicationFactor())
		require.Equal(t, 2, rep.MinInsyncReplicas())
		require.NoError(t, primary.CreateTopic(ctx, "split", 1))
		leader := requirePartition(ctx, t, pcl, "split", -1, func(p kmsg.MetadataResponseTopicPartition) error {
			if len(p.Replicas) != 3 || len(p.ISR) != 3 {
				return fmt.Errorf("replicas %v, ISR %v: want three of each", p.Replicas, p.ISR)
			}
			return nil
		})
		require.NoError(t, pp.IsolateFromPeers(ctx, leader))
		require.NoError(t, pp.IsolateFromPeers(ctx, leader), "IsolateFromPeers is idempotent")
		alone, err := kgo.NewClient(kgo.SeedBrokers(primary.Bootstrap()[leader]), kgo.DialTimeout(time.Second))
		require.NoError(t, err)
		defer alone.Close()
		require.NoError(t, alone.Ping(ctx), "clients still reach the split broker")
		// Its peers fence it and elect another leader.
		requirePartition(ctx, t, pcl, "split", leader, func(p kmsg.MetadataResponseTopicPartition) error {
			if p.Leader == leader || p.Leader < 0 {
				return fmt.Errorf("leader is still %d", p.Leader)
			}
			return nil
		})
		require.NoError(t, pp.HealPeers(ctx, leader))
		require.NoError(t, pp.HealPeers(ctx, leader), "HealPeers is idempotent")
		requirePartition(ctx, t, pcl, "split", -1, func(p kmsg.MetadataResponseTopicPartition) error {
			if len(p.ISR) != 3 {
				return fmt.Errorf("ISR %v: broker %d has not caught up", p.ISR, leader)
			}
			return nil
		})
		require.NoError(t, produce(ctx, pcl, "after-split", 30*time.Second))
	})
	t.Run("protocol error", func(t *testing.T) {
		heal, err := primary.(env.ProtocolFaulter).InjectError(env.ProtocolFault{Key: 0, ErrCode: kerr.InvalidRecord.Code, Count: -1})
		if errors.Is(err, env.ErrUnsupported) {
			t.Skipf("real Kafka: %v", err)
		}
		require.NoError(t, err)
		require.ErrorIs(t, produce(ctx, pcl, "faulted", 10*time.Second), kerr.InvalidRecord)
		heal()
		require.NoError(t, produce(ctx, pcl, "healed", 30*time.Second))
	})
	t.Run("slow requests", func(t *testing.T) {
		heal, err := primary.(env.RequestSlower).SlowRequests(0, 400*time.Millisecond)
		if errors.Is(err, env.ErrUnsupported) {
			t.Skipf("real Kafka: %v", err)
		}
		require.NoError(t, err)
		start := time.Now()
		require.NoError(t, produce(ctx, pcl, "slow", 30*time.Second))
		require.GreaterOrEqual(t, time.Since(start), 400*time.Millisecond)
		heal()
		require.NoError(t, produce(ctx, pcl, "fast", 30*time.Second))
	})
	pf := primary.(containers.ProcessFaults)
	t.Run("region kill start", func(t *testing.T) {
		require.NoError(t, pf.Kill(ctx))
		requireUnreachable(ctx, t, primary)
		require.NoError(t, primary.Start(ctx))
		require.NoError(t, produce(ctx, pcl, "after-kill", 30*time.Second))
		requireConsumed(ctx, t, primary, "after-stop") // data kept across kill -9
	})
	t.Run("region pause unpause", func(t *testing.T) {
		require.NoError(t, pf.Pause(ctx))
		requireUnreachable(ctx, t, primary)
		require.NoError(t, pf.Unpause(ctx))
		require.NoError(t, produce(ctx, pcl, "unpaused", 30*time.Second))
	})
	t.Run("region partition", func(t *testing.T) {
		require.NoError(t, pf.Disconnect(ctx))
		requireUnreachable(ctx, t, primary)
		require.NoError(t, produce(ctx, kc[env.Secondary], "other region unaffected", 10*time.Second))
		require.NoError(t, pf.Connect(ctx))
		start := time.Now()
		require.NoError(t, produce(ctx, pcl, "healed", 30*time.Second))
		t.Logf("first produce after the partition healed: %v", time.Since(start).Round(time.Millisecond))
	})

	type stoppable interface {
		Stop(context.Context) error
		Start(context.Context) error
	}
	t.Run("registry stop start", func(t *testing.T) {
		rs := reg.(stoppable)
		require.NoError(t, rs.Stop(ctx))
		_, err := register(ctx, hc, reg.URL(), "t-value")
		require.Error(t, err)
		require.NoError(t, rs.Start(ctx))
		requireEventually(ctx, t, func() error { return getOK(ctx, hc, reg.URL()+"/subjects/t-value/versions/latest") })
	})
	t.Run("registry kill pause partition", func(t *testing.T) {
		rp := reg.(containers.ProcessFaults)
		rs := reg.(stoppable)
		for _, f := range []struct {
			name       string
			fault, fix func(context.Context) error
		}{{"kill", rp.Kill, rs.Start}, {"pause", rp.Pause, rp.Unpause}, {"disconnect", rp.Disconnect, rp.Connect}} {
			require.NoError(t, f.fault(ctx), f.name)
			short, cancel := context.WithTimeout(ctx, time.Second)
			_, err := register(short, hc, reg.URL(), "t-value")
			cancel()
			require.Error(t, err, f.name)
			require.NoError(t, f.fix(ctx), f.name)
			requireEventually(ctx, t, func() error { _, err := register(ctx, hc, reg.URL(), "t-value"); return err })
		}
	})
	t.Run("registry http faults", func(t *testing.T) {
		reg.Faults().Inject(env.HTTPFault{Status: 503, Code: "50301"})
		_, err := register(ctx, hc, reg.URL(), "t-value")
		require.ErrorContains(t, err, "503")
		reg.Faults().Heal()
		_, err = register(ctx, hc, reg.URL(), "t-value")
		require.NoError(t, err)
		require.Positive(t, reg.Faults().Stats().Faulted)
	})
	t.Run("store stop start", func(t *testing.T) {
		ss := st.(stoppable)
		require.NoError(t, ss.Stop(ctx))
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		require.Error(t, put(short, mc, st.Bucket(), "b", "down"))
		cancel()
		require.NoError(t, ss.Start(ctx))
		requireEventually(ctx, t, func() error { return put(ctx, mc, st.Bucket(), "b", "up") })
		requireGet(ctx, t, mc, st.Bucket(), "a", "hello") // data kept
	})
	t.Run("store kill pause partition", func(t *testing.T) {
		sp := st.(containers.ProcessFaults)
		ss := st.(stoppable)
		for _, f := range []struct {
			name       string
			fault, fix func(context.Context) error
		}{{"kill", sp.Kill, ss.Start}, {"pause", sp.Pause, sp.Unpause}, {"disconnect", sp.Disconnect, sp.Connect}} {
			require.NoError(t, f.fault(ctx), f.name)
			short, cancel := context.WithTimeout(ctx, time.Second)
			require.Error(t, put(short, mc, st.Bucket(), "c", f.name), f.name)
			cancel()
			require.NoError(t, f.fix(ctx), f.name)
			requireEventually(ctx, t, func() error { return put(ctx, mc, st.Bucket(), "c", f.name) })
			requireGet(ctx, t, mc, st.Bucket(), "a", "hello")
		}
	})
	t.Run("sidecar on the host network", func(t *testing.T) {
		// A black-box SUT container sees 127.0.0.1 as this process does:
		// here a pipechaos-kafka binds a loopback port the test then reaches.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		sc, err := containers.RunSidecar(ctx, e, containers.SidecarSpec{
			Role: "sidecar", Image: containers.FakeKafkaImage,
			Cmd: []string{"-ports", strconv.Itoa(port), "-listen-host", "127.0.0.1", "-control", "127.0.0.1:0", "-data-dir", ""},
		})
		require.NoError(t, err)
		scl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:"+strconv.Itoa(port)), kgo.DialTimeout(time.Second))
		require.NoError(t, err)
		defer scl.Close()
		requireEventually(ctx, t, func() error { return scl.Ping(ctx) })
		require.NoError(t, sc.Kill(ctx))
		running, err := sc.Running(ctx)
		require.NoError(t, err)
		require.False(t, running)
	})
	t.Run("store http faults", func(t *testing.T) {
		before := st.Faults().Stats()
		st.Faults().Inject(env.HTTPFault{Status: 503, Code: "SlowDown", Methods: []string{http.MethodPut}})
		err := put(ctx, mc, st.Bucket(), "d", "x")
		require.Error(t, err)
		require.Equal(t, "SlowDown", minio.ToErrorResponse(err).Code)
		st.Faults().Heal()
		require.NoError(t, put(ctx, mc, st.Bucket(), "d", "x"))
		after := st.Faults().Stats()
		require.Greater(t, after.Requests, before.Requests)
		require.Greater(t, after.Faulted, before.Faulted)
		require.Positive(t, after.BytesIn)
	})
}

// requireUnreachable: no broker of the region answers.
func requireUnreachable(ctx context.Context, t *testing.T, r env.Region) {
	t.Helper()
	for _, addr := range r.Bootstrap() {
		requireNoAnswer(ctx, t, addr)
	}
}

// requireNoAnswer: a client seeded with addr alone gets no answer within
// a second (refused, reset or held: all count).
func requireNoAnswer(ctx context.Context, t *testing.T, addr string) {
	t.Helper()
	// Ping's connection handshake is bounded by the request overhead, not ctx.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestTimeoutOverhead(500*time.Millisecond), kgo.DialTimeout(time.Second))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	require.Error(t, cl.Ping(ctx), "broker %s still answers", addr)
}

func produce(ctx context.Context, cl *kgo.Client, v string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return cl.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr()
}

// requireConsumed reads topic t from the start with a fresh client until
// it sees value v.
func requireConsumed(ctx context.Context, t *testing.T, r env.Region, v string) {
	t.Helper()
	cl, err := r.Client(kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("record %q not consumed from %s: %v", v, r.Name(), ctx.Err())
		}
		found := false
		fs.EachRecord(func(rec *kgo.Record) { found = found || string(rec.Value) == v })
		if found {
			return
		}
	}
}

// requirePartition asks a broker other than not (-1: any) for the
// metadata of topic's partition 0 until check accepts it (two minutes:
// fencing and elections on a loaded machine), and returns its leader.
func requirePartition(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, not int32, check func(kmsg.MetadataResponseTopicPartition) error) int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last error
	for {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		for _, id := range []int32{0, 1, 2} {
			if id == not {
				continue
			}
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			resp, err := req.RequestWith(rctx, cl.Broker(int(id)))
			rcancel()
			switch {
			case err != nil:
				last = err
			case len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) == 0:
				last = fmt.Errorf("broker %d: no partitions of %s", id, topic)
			default:
				p := resp.Topics[0].Partitions[0]
				if last = check(p); last == nil {
					return p.Leader
				}
				last = fmt.Errorf("broker %d: %w", id, last)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("partition %s-0: %v", topic, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func requireConnClosed(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return // refused outright also counts
	}
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	require.Error(t, err)
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "connection to isolated broker stayed open")
}

func requireEventually(ctx context.Context, t *testing.T, fn func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("did not recover: %v", err)
		case <-tick.C:
		}
	}
}

const avroSchema = `{"type":"record","name":"R","fields":[{"name":"id","type":"string"}]}`

func register(ctx context.Context, hc *http.Client, base, subject string) (int, error) {
	body, _ := json.Marshal(map[string]string{"schema": avroSchema})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/subjects/"+subject+"/versions", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, errors.New(resp.Status + ": " + strings.TrimSpace(string(b)))
	}
	var out struct{ ID int }
	return out.ID, json.Unmarshal(b, &out)
}

// getOK: GET url answers 200 (the first check after a restart, so a
// schema found proves the registry kept it).
func getOK(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status + ": " + strings.TrimSpace(string(b)))
	}
	return nil
}

func put(ctx context.Context, mc *minio.Client, bucket, key, v string) error {
	_, err := mc.PutObject(ctx, bucket, key, strings.NewReader(v), int64(len(v)), minio.PutObjectOptions{})
	return err
}

func requireGet(ctx context.Context, t *testing.T, mc *minio.Client, bucket, key, want string) {
	t.Helper()
	obj, err := mc.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	defer obj.Close()
	b, err := io.ReadAll(obj)
	require.NoError(t, err)
	require.Equal(t, want, string(b))
}

// requireInSync waits until every partition of topic has all its replicas
// in sync (at once on pipechaos-kafka, whose replicas are names only).
func requireInSync(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	adm := kadm.NewClient(cl)
	var last string
	for {
		tds, err := adm.ListTopics(ctx, topic)
		if err == nil {
			td := tds[topic]
			last = ""
			for _, p := range td.Partitions.Sorted() {
				if p.Err != nil || len(p.ISR) < len(p.Replicas) {
					last = fmt.Sprintf("p%d ISR %v of replicas %v (%v)", p.Partition, p.ISR, p.Replicas, p.Err)
					break
				}
			}
			if last == "" && td.Err == nil && len(td.Partitions) > 0 {
				return
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: replicas not in sync: %s", topic, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
