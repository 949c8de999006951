// Package realkafka starts one real Apache Kafka node for tests: a
// combined KRaft broker and controller from the distribution
// scripts/kafka-dist.sh resolves with Maven. It is the proxy's test
// fixture, not a backend (harness/env/nodes runs real clusters).
package realkafka

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
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Start starts one combined KRaft node (node id 1) on 127.0.0.1, waits
// until it answers metadata with itself and a controller, and returns its
// client address; tb.Cleanup kills it (its process group, and the kernel
// kills it if the test binary dies first). It skips the test without java
// or Maven, except under CI=true, where it fails.
func Start(t testing.TB) string {
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
	script := filepath.Join(filepath.Dir(file), "..", "..", "..", "scripts", "kafka-dist.sh")
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
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

func freePort(t testing.TB) int {
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
