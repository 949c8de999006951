package kafkaproxy_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/pipechaos/pipechaos/fakes/kafkaproxy"
)

// The proxy in front of one real Apache Kafka node (combined KRaft broker
// and controller, the distribution scripts/kafka-dist.sh resolves): a
// client seeded with the proxy produces, consumes in a group and commits;
// a commit fault fails the commit with exactly its code and heals; a delay
// holds a produce; every request the client sent was readable by kmsg.
func TestRealKafkaThroughProxy(t *testing.T) {
	addr := startRealKafka(t)
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
	slow, err := p.Inject(kafkaproxy.Rule{Key: 0, Count: 1, Action: kafkaproxy.Delay{Duration: d}})
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

// startRealKafka starts one combined KRaft node on 127.0.0.1 and returns
// its client address. It skips without java or Maven, except under
// CI=true, where it fails.
func startRealKafka(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"java", "mvn"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("real Kafka needs %s, which is not installed (CI=true: failing instead of skipping)", tool)
			}
			t.Skipf("real Kafka needs %s, which is not installed (apt-get install default-jdk-headless maven); set CI=true to fail instead", tool)
		}
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "kafka-dist.sh")
	out, err := exec.Command("bash", script).Output()
	require.NoError(t, err, "scripts/kafka-dist.sh")
	dist := strings.TrimSpace(string(out))
	cp := filepath.Join(dist, "libs") + "/*"

	dir := t.TempDir()
	port, cport := freePort(t), freePort(t)
	props := filepath.Join(dir, "server.properties")
	require.NoError(t, os.WriteFile(props, []byte(fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:%[2]d
listeners=PLAINTEXT://127.0.0.1:%[1]d,CONTROLLER://127.0.0.1:%[2]d
advertised.listeners=PLAINTEXT://127.0.0.1:%[1]d
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=%[3]s
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=500
auto.create.topics.enable=false
num.network.threads=1
num.io.threads=2
background.threads=2
log.cleaner.dedupe.buffer.size=2097152
`, port, cport, filepath.Join(dir, "data"))), 0o644))

	java := func(ctx context.Context, args ...string) *exec.Cmd {
		base := []string{"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dlog4j2.configurationFile=" + filepath.Join(dist, "log4j2.properties"),
			"-Dpipechaos.log=" + filepath.Join(dir, "kafka.log"), "-cp", cp}
		cmd := exec.CommandContext(ctx, "java", append(base, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		return cmd
	}
	ctx := ctxT(t, 2*time.Minute)
	uuid, err := java(ctx, "kafka.tools.StorageTool", "random-uuid").Output()
	require.NoError(t, err, "StorageTool random-uuid")
	var fmtOut bytes.Buffer
	format := java(ctx, "kafka.tools.StorageTool", "format", "-t", strings.TrimSpace(string(uuid)), "-c", props)
	format.Stdout, format.Stderr = &fmtOut, &fmtOut
	require.NoError(t, format.Run(), "StorageTool format: %s", fmtOut.String())

	started := time.Now()
	srv := java(context.Background(), "kafka.Kafka", props)
	var srvOut bytes.Buffer
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	require.NoError(t, srv.Start())
	exited := make(chan struct{})
	go func() { _ = srv.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-srv.Process.Pid, syscall.SIGKILL)
		<-exited
	})

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	require.NoError(t, err)
	defer cl.Close()
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "kafka.log"))
			t.Fatalf("kafka exited before it was ready:\n%s\n%s", srvOut.String(), tail(log, 4000))
		default:
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(rctx, cl)
		cancel()
		if err == nil && len(resp.Brokers) == 1 && resp.ControllerID >= 0 {
			t.Logf("real Kafka ready on %s in %s", addr, time.Since(started).Round(time.Millisecond))
			return addr
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "kafka.log"))
			t.Fatalf("kafka not ready after 90s (last: %v):\n%s", err, tail(log, 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
