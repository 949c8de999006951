package connect_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/harness/checker"

	"github.com/pipechaos/pipechaos/harness/connect"
)

// testBroker is one combined KRaft node (broker and controller) of the
// Apache Kafka distribution scripts/kafka-dist.sh resolves, started for a
// test. It stands in for the nodes backend, which starts real brokers the
// same way for the scenarios.
type testBroker struct {
	Bootstrap string
	cmd       *exec.Cmd
	done      chan struct{}
}

// startBroker starts the node and registers its cleanup (SIGKILL to its
// process group, then the directory with the test's TempDir).
func startBroker(t *testing.T) *testBroker {
	t.Helper()
	root, err := connect.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", filepath.Join(root, "scripts", "kafka-dist.sh")).Output()
	if err != nil {
		t.Fatalf("scripts/kafka-dist.sh: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dist := lines[len(lines)-1]
	dir := t.TempDir()
	port, cport := freePort(t), freePort(t)
	props := strings.Join([]string{
		"process.roles=broker,controller",
		"node.id=1",
		fmt.Sprintf("controller.quorum.voters=1@127.0.0.1:%d", cport),
		fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", port, cport),
		fmt.Sprintf("advertised.listeners=PLAINTEXT://127.0.0.1:%d", port),
		"controller.listener.names=CONTROLLER",
		"inter.broker.listener.name=PLAINTEXT",
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"log.dirs=" + filepath.Join(dir, "data"),
		"num.partitions=1",
		"default.replication.factor=1",
		"offsets.topic.replication.factor=1",
		"offsets.topic.num.partitions=3",
		"transaction.state.log.replication.factor=1",
		"transaction.state.log.min.isr=1",
		"transaction.state.log.num.partitions=3",
		"group.initial.rebalance.delay.ms=0",
		"num.network.threads=2",
		"num.io.threads=2",
		"background.threads=2",
		"log.cleaner.dedupe.buffer.size=2097152",
		"auto.leader.rebalance.enable=false",
		"",
	}, "\n")
	cfg := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(cfg, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	java := func(args ...string) *exec.Cmd {
		base := []string{"-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Dlog4j2.configurationFile=" + filepath.Join(dist, "log4j2.properties"),
			"-Dpipechaos.log=" + filepath.Join(dir, "broker.log"), "-cp", filepath.Join(dist, "libs", "*")}
		return exec.Command("java", append(base, args...)...)
	}
	uuid, err := java("kafka.tools.StorageTool", "random-uuid").Output()
	if err != nil {
		t.Fatalf("StorageTool random-uuid: %v", err)
	}
	if out, err := java("kafka.tools.StorageTool", "format", "-t", strings.TrimSpace(string(uuid)), "-c", cfg).CombinedOutput(); err != nil {
		t.Fatalf("StorageTool format: %v\n%s", err, out)
	}
	b := &testBroker{Bootstrap: fmt.Sprintf("127.0.0.1:%d", port), done: make(chan struct{})}
	b.cmd = java("kafka.Kafka", cfg)
	var stderr bytes.Buffer
	b.cmd.Stdout, b.cmd.Stderr = &stderr, &stderr
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.done
	})
	// Ready: a client gets metadata with this broker in it.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for {
		if err := cl.Ping(ctx); err == nil {
			break
		}
		select {
		case <-b.done:
			log, _ := os.ReadFile(filepath.Join(dir, "broker.log"))
			t.Fatalf("the broker ended: %s\n%s\n%s", b.cmd.ProcessState, stderr.String(), tailOf(string(log), 30))
		case <-ctx.Done():
			t.Fatalf("the broker did not answer within 90s")
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Logf("broker at %s answered after %s", b.Bootstrap, time.Since(start).Round(time.Millisecond))
	return b
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tailOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// testMinIO is a MinIO server (the binary images/build.sh builds into
// ~/.cache/pipechaos/bin) on 127.0.0.1 with one bucket.
type testMinIO struct {
	Endpoint, AccessKey, SecretKey, Bucket string
	Client                                 *minio.Client
}

const minioBinary = "minio-v0.0.0-20260212201848-7aac2a2c5b7c"

// startMinIO starts MinIO for the test, or skips it with the reason when
// the binary is not built.
func startMinIO(t *testing.T, bucket string) *testMinIO {
	t.Helper()
	home, _ := os.UserHomeDir()
	bin := filepath.Join(home, ".cache", "pipechaos", "bin", minioBinary)
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no MinIO binary at %s: images/build.sh builds it", bin)
	}
	m := &testMinIO{Endpoint: fmt.Sprintf("127.0.0.1:%d", freePort(t)), AccessKey: "pipechaos", SecretKey: "pipechaos-secret", Bucket: bucket}
	cmd := exec.Command(bin, "server", "--quiet", "--address", m.Endpoint, "--console-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)), t.TempDir())
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey, "MINIO_BROWSER=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-done })
	cl, err := minio.New(m.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, "")})
	require.NoError(t, err)
	m.Client = cl
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		if err := cl.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err == nil {
			return m
		}
		select {
		case <-done:
			t.Fatalf("minio ended: %s", cmd.ProcessState)
		case <-ctx.Done():
			t.Fatal("minio did not take a bucket within a minute")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// objects decodes every object of the bucket with the checker's reader:
// record ID → the keys of the objects holding it.
func (m *testMinIO) objects(ctx context.Context, t *testing.T) map[uint64][]string {
	t.Helper()
	out := map[uint64][]string{}
	for o := range m.Client.ListObjects(ctx, m.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		require.NoError(t, o.Err)
		obj, err := m.Client.GetObject(ctx, m.Bucket, o.Key, minio.GetObjectOptions{})
		require.NoError(t, err)
		err = checker.DecodeObject(o.Key, obj, func(f checker.Found) { out[f.ID] = append(out[f.ID], o.Key) })
		obj.Close()
		require.NoError(t, err, "the checker cannot read %s", o.Key)
	}
	return out
}
