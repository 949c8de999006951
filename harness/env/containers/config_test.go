package containers

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// These tests need no Docker: they cover image selection and the
// configuration of the official images, which cannot run on machines
// without a registry.

func TestImageKinds(t *testing.T) {
	for ref, want := range map[string]string{
		"apache/kafka:3.9.0":                         "apache/kafka",
		"docker.io/apache/kafka-native:3.9.0":        "apache/kafka-native",
		"confluentinc/cp-schema-registry:7.7.1":      "confluentinc/cp-schema-registry",
		"quay.io/minio/minio:RELEASE.2025-01-01":     "quay.io/minio/minio",
		"localhost:5000/pipechaos/kafka:dev":         "localhost:5000/pipechaos/kafka",
		"minio/minio@sha256:0123456789abcdef":        "minio/minio",
		"docker.io/library/busybox":                  "busybox",
		"registry.example:5000/team/kafka:1@sha256:": "registry.example:5000/team/kafka",
	} {
		require.Equal(t, want, repository(ref), ref)
	}
	require.True(t, officialKafka("apache/kafka:3.9.0"))
	require.True(t, officialKafka("docker.io/apache/kafka-native:3.9.0"))
	require.True(t, officialKafka(ApacheKafkaImage), "the locally built Apache Kafka image runs one broker per container")
	require.False(t, officialKafka(FakeKafkaImage))
	require.True(t, officialKafka(DefaultKafkaImage), "the default is real Apache Kafka")
	require.True(t, officialRegistry("confluentinc/cp-schema-registry:7.7.1"))
	require.False(t, officialRegistry(DefaultRegistryImage))
}

func TestConfigFromEnvironment(t *testing.T) {
	t.Setenv("PIPECHAOS_KAFKA_IMAGE", "apache/kafka:3.9.0")
	t.Setenv("PIPECHAOS_REGISTRY_IMAGE", "confluentinc/cp-schema-registry:7.7.1")
	t.Setenv("PIPECHAOS_MINIO_IMAGE", "minio/minio:RELEASE.2025-04-22T22-12-26Z")
	c, err := NewConfig()
	require.NoError(t, err)
	require.Equal(t, "apache/kafka:3.9.0", c.KafkaImage)
	require.Equal(t, "confluentinc/cp-schema-registry:7.7.1", c.RegistryImage)
	require.Equal(t, "minio/minio:RELEASE.2025-04-22T22-12-26Z", c.MinIOImage)

	c, err = NewConfig(KafkaImage("pipechaos/kafka:other"), RegistryImage(DefaultRegistryImage))
	require.NoError(t, err, "options win over the environment")
	require.Equal(t, "pipechaos/kafka:other", c.KafkaImage)
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	for _, v := range []string{"PIPECHAOS_KAFKA_IMAGE", "PIPECHAOS_REGISTRY_IMAGE", "PIPECHAOS_MINIO_IMAGE"} {
		t.Setenv(v, "")
	}
	c, err := NewConfig()
	require.NoError(t, err)
	require.Equal(t, DefaultKafkaImage, c.KafkaImage)
	require.Equal(t, DefaultRegistryImage, c.RegistryImage)
	require.Equal(t, DefaultMinIOImage, c.MinIOImage)

	_, err = NewConfig(KafkaImage(FakeKafkaImage), RegistryImage("confluentinc/cp-schema-registry:7.7.1"))
	require.ErrorContains(t, err, "needs an official Kafka image")
	_, err = NewConfig(Credentials("a", "short"))
	require.ErrorContains(t, err, "secret key of at least 8")
	_, err = NewConfig(KafkaImage(""))
	require.ErrorContains(t, err, "images cannot be empty")
	_, err = NewConfig(StartupTimeout(0))
	require.ErrorContains(t, err, "startup timeout must be positive")
}

func TestRyukMustBeDisabled(t *testing.T) {
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "")
	require.NoError(t, disableRyuk())
	require.Equal(t, "true", getenv("TESTCONTAINERS_RYUK_DISABLED"))
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "1")
	require.ErrorContains(t, disableRyuk(), "exactly TESTCONTAINERS_RYUK_DISABLED=true")
}

func TestPipechaosKafkaArgs(t *testing.T) {
	require.Equal(t, []string{
		"-ports", "40001,40002,40003", "-listen-host", "0.0.0.0", "-advertised-host", "127.0.0.1",
		"-control", ":40004", "-data-dir", "/data", "-cluster-id", "pipechaos-primary",
	}, pipechaosKafkaArgs("primary", []int{40001, 40002, 40003}, 40004))
}

func TestApacheKafkaNodes(t *testing.T) {
	nodes := apacheKafkaNodes("secondary", []int{41001, 41002, 41003})
	require.Len(t, nodes, 3)
	n := nodes[1]
	require.Equal(t, "kafka-secondary-1", n.alias)
	require.Equal(t, 41002, n.hostPort)
	require.Equal(t, "1", n.env["KAFKA_NODE_ID"])
	require.Equal(t, "broker,controller", n.env["KAFKA_PROCESS_ROLES"])
	require.Equal(t, "PLAINTEXT://0.0.0.0:41002,BROKER://0.0.0.0:9092,CONTROLLER://0.0.0.0:9094", n.env["KAFKA_LISTENERS"])
	require.Equal(t, "PLAINTEXT://127.0.0.1:41002,BROKER://kafka-secondary-1:9092", n.env["KAFKA_ADVERTISED_LISTENERS"],
		"clients on the host get the fixed loopback port, containers the network alias")
	require.Equal(t, "0@kafka-secondary-0:9094,1@kafka-secondary-1:9094,2@kafka-secondary-2:9094", n.env["KAFKA_CONTROLLER_QUORUM_VOTERS"])
	require.Equal(t, "3", n.env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"])
	require.Equal(t, "3", n.env["KAFKA_DEFAULT_REPLICATION_FACTOR"], "real replicas: three per partition")
	require.Equal(t, "2", n.env["KAFKA_MIN_INSYNC_REPLICAS"], "acks=all needs two in sync")
	require.Equal(t, "2", n.env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"])
	require.Equal(t, "false", n.env["KAFKA_AUTO_LEADER_REBALANCE_ENABLE"], "leaders move only when a fault moves them")
	require.Equal(t, "0", n.env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"])
	require.Equal(t, "127.0.0.1:41002", n.clientAddr)
	require.Equal(t, nodes[0].env["CLUSTER_ID"], n.env["CLUSTER_ID"], "one cluster id per region")
	require.NotEqual(t, apacheKafkaNodes("primary", []int{1})[0].env["CLUSTER_ID"], n.env["CLUSTER_ID"])
	one := apacheKafkaNodes("primary", []int{42000})[0].env
	require.Equal(t, "1", one["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"])
	require.Equal(t, "1", one["KAFKA_MIN_INSYNC_REPLICAS"], "a one-broker region still takes acks=all writes")

	req := apply(t, officialKafkaOpts(n, Config{StartupTimeout: 1})...)
	require.Equal(t, n.env, req.Env)
	w, ok := only(t, req.WaitingFor).(*kafkaReady)
	require.True(t, ok, "readiness is a Kafka request on the loopback port")
	require.Equal(t, 41002, w.port)
}

// TestEntrypointProperties runs the apache-kafka image's entrypoint on
// the host (--print-config: no JVM) and checks the official image's
// mapping of KAFKA_* variables to server properties.
func TestEntrypointProperties(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	node := apacheKafkaNodes("primary", []int{40001, 40002, 40003})[2]
	cmd := exec.Command("bash", "../../../images/apache-kafka/kafka-entrypoint.sh", "--print-config")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "KAFKA_LISTENER_NAME_BROKER_SASL___X__Y=z", "KAFKA_OPTS=-Dx=y"}
	for k, v := range node.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	props := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			props[k] = v
		}
	}
	require.Equal(t, "2", props["node.id"])
	require.Equal(t, "broker,controller", props["process.roles"])
	require.Equal(t, node.env["KAFKA_LISTENERS"], props["listeners"])
	require.Equal(t, node.env["KAFKA_ADVERTISED_LISTENERS"], props["advertised.listeners"])
	require.Equal(t, node.env["KAFKA_CONTROLLER_QUORUM_VOTERS"], props["controller.quorum.voters"])
	require.Equal(t, "CONTROLLER", props["controller.listener.names"])
	require.Equal(t, "2", props["min.insync.replicas"])
	require.Equal(t, "/var/lib/kafka/data", props["log.dirs"], "data in the image's volume")
	require.Equal(t, "z", props["listener.name.broker.sasl-x_y"], "___ is a dash, __ an underscore")
	for k := range props {
		require.NotContains(t, k, "opts", "JVM options are not server properties")
	}
	require.NotContains(t, props, "cluster.id")

	cmd = exec.Command("bash", "../../../images/apache-kafka/kafka-entrypoint.sh")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "KAFKA_PROCESS_ROLES=broker"}
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "CLUSTER_ID is not set")
}

func TestStartupTimeoutByImage(t *testing.T) {
	c, err := NewConfig(KafkaImage(FakeKafkaImage))
	require.NoError(t, err)
	require.Equal(t, 60*time.Second, c.StartupTimeout)
	c, err = NewConfig(KafkaImage(ApacheKafkaImage))
	require.NoError(t, err)
	require.Equal(t, 180*time.Second, c.StartupTimeout, "six JVMs need longer")
	c, err = NewConfig(KafkaImage(ApacheKafkaImage), StartupTimeout(time.Minute))
	require.NoError(t, err)
	require.Equal(t, time.Minute, c.StartupTimeout, "an explicit timeout wins")
	require.Equal(t, 2, minInsync(3))
	require.Equal(t, 3, replicationFactor(5))
	require.Equal(t, []string{"127.0.0.1:1", "127.0.0.1:2"}, clientAddrs([]int{1, 2}))
}

func TestCPSchemaRegistryEnv(t *testing.T) {
	env := cpSchemaRegistryEnv([]string{"kafka-primary-0", "kafka-primary-1"})
	require.Equal(t, "PLAINTEXT://kafka-primary-0:9092,PLAINTEXT://kafka-primary-1:9092", env["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"])
	require.Equal(t, "http://0.0.0.0:8081", env["SCHEMA_REGISTRY_LISTENERS"])
	require.Equal(t, "2", env["SCHEMA_REGISTRY_KAFKASTORE_TOPIC_REPLICATION_FACTOR"])
}

func TestMinIOOpts(t *testing.T) {
	req := apply(t, minioOpts(Config{AccessKey: "ak-test", SecretKey: "sk-test-123", StartupTimeout: 1}, 43000)...)
	require.Equal(t, "ak-test", req.Env["MINIO_ROOT_USER"])
	require.Equal(t, "sk-test-123", req.Env["MINIO_ROOT_PASSWORD"])
	require.Equal(t, "off", req.Env["MINIO_UPDATE"])
	w, ok := only(t, req.WaitingFor).(*httpReady)
	require.True(t, ok, "the module's wait must be replaced by a loopback one")
	require.Equal(t, 43000, w.port)
	require.Equal(t, "/minio/health/live", w.path)
}

func TestBindingsAreLoopbackAndFixed(t *testing.T) {
	pm := bindings(map[int]int{9000: 43210, 40001: 40001})
	require.Len(t, pm, 2)
	for p, bs := range pm {
		require.Len(t, bs, 1)
		require.Equal(t, "127.0.0.1", bs[0].HostIP.String())
		if p.Num() == 40001 {
			require.Equal(t, "40001", bs[0].HostPort, "Kafka ports bind to the same host port")
		} else {
			require.Equal(t, "43210", bs[0].HostPort)
		}
	}
	ports, err := freePorts(5)
	require.NoError(t, err)
	seen := map[int]bool{}
	for _, p := range ports {
		require.False(t, seen[p], "port %d picked twice", p)
		seen[p] = true
	}
}

type noImages struct{ client.APIClient }

func (noImages) ImageInspect(context.Context, string, ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	return client.ImageInspectResult{}, errors.New("No such image")
}

func TestMissingImageNamesTheFixAndNeverPulls(t *testing.T) {
	err := ensureImages(context.Background(), noImages{}, FakeKafkaImage, "apache/kafka:3.9.0")
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "pipechaos/kafka:dev: run `make images`")
	require.Contains(t, msg, "docker pull apache/kafka:3.9.0")
	require.Contains(t, msg, "pipechaos never pulls")
	require.Equal(t, 3, len(strings.Split(msg, "\n")))
}

func TestOwnerDead(t *testing.T) {
	labels := ownerLabels("s")
	require.False(t, ownerDead(labels), "this process is alive")
	labels[LabelPID] = "999999999"
	require.True(t, ownerDead(labels))
	labels[LabelHost] = "another-machine"
	require.False(t, ownerDead(labels), "owners on other hosts are not judged")
}

// only unwraps the single strategy WithWaitStrategy wraps in ForAll.
func only(t *testing.T, s wait.Strategy) wait.Strategy {
	t.Helper()
	m, ok := s.(*wait.MultiStrategy)
	require.True(t, ok)
	require.Len(t, m.Strategies, 1)
	return m.Strategies[0]
}

func apply(t *testing.T, opts ...testcontainers.ContainerCustomizer) *testcontainers.GenericContainerRequest {
	t.Helper()
	req := &testcontainers.GenericContainerRequest{ContainerRequest: testcontainers.ContainerRequest{Env: map[string]string{}}}
	for _, o := range opts {
		require.NoError(t, o.Customize(req))
	}
	return req
}

func getenv(k string) string { return os.Getenv(k) }

func TestRetryPortsOnlyOnPortConflicts(t *testing.T) {
	calls := 0
	_, err := retryPorts(func() (int, error) {
		calls++
		return 0, errors.New("driver failed programming external connectivity: Bind for 127.0.0.1:40001 failed: port is already allocated")
	})
	require.Error(t, err)
	require.Equal(t, 3, calls)
	calls = 0
	v, err := retryPorts(func() (int, error) {
		calls++
		if calls == 1 {
			return 0, errors.New("listen tcp 127.0.0.1:40001: bind: address already in use")
		}
		return 7, nil
	})
	require.NoError(t, err)
	require.Equal(t, 7, v)
	calls = 0
	_, err = retryPorts(func() (int, error) { calls++; return 0, errors.New("image not present locally") })
	require.Error(t, err)
	require.Equal(t, 1, calls)
}
