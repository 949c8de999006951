package nodes

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// kafkaDist is the directory scripts/kafka-dist.sh prints: libs/*.jar and
// log4j2.properties. $PIPECHAOS_KAFKA_DIST overrides it.
func kafkaDist() (string, error) {
	if d := os.Getenv("PIPECHAOS_KAFKA_DIST"); d != "" {
		return d, checkDist(d)
	}
	distOnce.Do(func() {
		script := filepath.Join(repoRoot(), "scripts", "kafka-dist.sh")
		out, err := exec.Command("bash", script).Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = strings.TrimSpace(string(ee.Stderr))
			}
			distErr = fmt.Errorf("resolve the Kafka distribution (%s, or `make kafka-dist`): %w: %s", script, err, stderr)
			return
		}
		distDir = strings.TrimSpace(string(out))
		distErr = checkDist(distDir)
	})
	return distDir, distErr
}

var (
	distOnce sync.Once
	distDir  string
	distErr  error
)

func checkDist(d string) error {
	jars, _ := filepath.Glob(filepath.Join(d, "libs", "kafka_*.jar"))
	if len(jars) == 0 {
		return fmt.Errorf("kafka distribution %s has no libs/kafka_*.jar: run `make kafka-dist` (or unset PIPECHAOS_KAFKA_DIST)", d)
	}
	return nil
}

// lookJava finds the java launcher the brokers run with (Java 17 or later).
func lookJava() (string, error) {
	p, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("java is not installed: the nodes backend runs Kafka on Java 17 or later (apt-get install openjdk-17-jre-headless)")
	}
	return p, nil
}

// repoRoot is the module's root, found from this file's path.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// jvmArgs are the JVM settings of every broker: a small heap (the
// distribution's scripts default to 256 MB), the serial collector (fewer
// threads on two cores, short pauses on a small heap) and C1 only (a
// broker in a test never runs long enough for C2 to pay back its
// compilation time; it halves start-up CPU).
func jvmArgs(dist, logFile string) []string {
	return []string{
		"java", "-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-XX:-UsePerfData", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + filepath.Join(dist, "log4j2.properties"),
		"-Dpipechaos.log=" + logFile,
		"-cp", filepath.Join(dist, "libs") + "/*",
	}
}

// brokerProps are a combined broker+controller's settings. The ones that
// differ from Kafka's defaults make a three-node cluster react in seconds
// on a loaded two-core machine, the way Kafka's own integration tests
// configure theirs:
func brokerProps(id int32, host string, voters []string, dataDir string, rf, minISR int) map[string]string {
	return map[string]string{
		"process.roles":                            "broker,controller",
		"node.id":                                  strconv.Itoa(int(id)),
		"controller.quorum.voters":                 strings.Join(voters, ","),
		"listeners":                                fmt.Sprintf("CLIENT://%s,REPLICATION://%s,CONTROLLER://%s", hp(host, clientPort), hp(host, replPort), hp(host, controllerPort)),
		"advertised.listeners":                     fmt.Sprintf("CLIENT://%s,REPLICATION://%s", hp(host, clientPort), hp(host, replPort)),
		"listener.security.protocol.map":           "CLIENT:PLAINTEXT,REPLICATION:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"inter.broker.listener.name":               "REPLICATION",
		"controller.listener.names":                "CONTROLLER",
		"log.dirs":                                 dataDir,
		"num.partitions":                           "1",
		"default.replication.factor":               strconv.Itoa(rf),
		"min.insync.replicas":                      strconv.Itoa(minISR),
		"offsets.topic.replication.factor":         strconv.Itoa(rf),
		"transaction.state.log.replication.factor": strconv.Itoa(rf),
		"transaction.state.log.min.isr":            strconv.Itoa(minISR),
		"unclean.leader.election.enable":           "false",

		// Few internal partitions: each is a leader election and a log
		// to load when a broker restarts (defaults 50 and 50).
		"offsets.topic.num.partitions":                 "3",
		"transaction.state.log.num.partitions":         "3",
		"share.coordinator.state.topic.num.partitions": "1",
		// A group starts rebalancing at once (default 3 s), and scenarios
		// may scale session timeouts down to hundreds of milliseconds
		// (default minimum 6 s).
		"group.initial.rebalance.delay.ms": "0",
		"group.min.session.timeout.ms":     "100",
		// A follower that stops fetching leaves the ISR after 3 s
		// (default 30 s); a replica fetch gives up after 1.5 s.
		"replica.lag.time.max.ms":   "3000",
		"replica.socket.timeout.ms": "1500",
		"replica.fetch.wait.max.ms": "200",
		"replica.fetch.backoff.ms":  "200",
		// The controller fences a broker whose heartbeats stop for 4 s
		// (default 9 s) and moves its leaderships; heartbeats every 500 ms.
		"broker.session.timeout.ms":    "4000",
		"broker.heartbeat.interval.ms": "500",
		// No leadership moves behind a scenario's back (default on, every
		// 300 s): elections happen only when a fault causes them.
		"auto.leader.rebalance.enable": "false",
		// A small heap cannot hold the cleaner's default 128 MB dedupe
		// buffer; few threads on two cores (defaults 3, 8, 10, 1).
		"log.cleaner.dedupe.buffer.size":    "2097152",
		"log.cleaner.threads":               "1",
		"num.network.threads":               "2",
		"num.io.threads":                    "2",
		"background.threads":                "2",
		"num.replica.fetchers":              "1",
		"num.recovery.threads.per.data.dir": "1",
		"controlled.shutdown.enable":        "false",
		// Small segments roll often enough for truncation and recovery
		// to be quick after a kill -9.
		"log.segment.bytes": strconv.Itoa(16 << 20),
	}
}

func hp(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

func writeProps(path string, props map[string]string) error {
	var b strings.Builder
	b.WriteString("# written by the pipechaos nodes backend\n")
	for _, k := range slices.Sorted(maps.Keys(props)) {
		fmt.Fprintf(&b, "%s=%s\n", k, props[k])
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// clusterID is a random Kafka cluster id: 16 bytes, base64url without
// padding, as kafka.tools.StorageTool random-uuid prints it. Like Kafka's
// Uuid.randomUuid it never starts with '-': StorageTool's argument parser
// takes "-t -Xy..." for a missing cluster id, and one start in 64 failed.
func clusterID() string {
	for {
		var b [16]byte
		_, _ = rand.Read(b[:])
		b[6] = b[6]&0x0f | 0x40 // a version-4 UUID, like Java's randomUUID
		b[8] = b[8]&0x3f | 0x80
		if id := base64.RawURLEncoding.EncodeToString(b[:]); id[0] != '-' {
			return id
		}
	}
}
