package containers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/testcontainers/testcontainers-go"
)

// Official images. They cannot run on machines without a registry (they
// are never pulled), so their configuration is built by the pure
// functions below and covered by unit tests.

// kafkaNode is one broker container of an official Apache Kafka image.
type kafkaNode struct {
	role     string // container role label and name suffix
	alias    string // network alias: inter-broker and registry traffic
	hostPort int    // PLAINTEXT listener, same port inside and on 127.0.0.1
	env      map[string]string
}

// apacheKafkaNodes configures a KRaft cluster of len(hostPorts) combined
// broker+controller nodes for apache/kafka. Node IDs are 0..n-1 like
// pipechaos-kafka's. Clients on the host use PLAINTEXT://127.0.0.1:port;
// containers use BROKER://alias:9092.
func apacheKafkaNodes(region string, hostPorts []int) []kafkaNode {
	n := len(hostPorts)
	aliases := make([]string, n)
	voters := make([]string, n)
	for i := range n {
		aliases[i] = fmt.Sprintf("kafka-%s-%d", region, i)
		voters[i] = fmt.Sprintf("%d@%s:9094", i, aliases[i])
	}
	rf := strconv.Itoa(min(n, 3))
	nodes := make([]kafkaNode, n)
	for i, hp := range hostPorts {
		nodes[i] = kafkaNode{
			role:     aliases[i],
			alias:    aliases[i],
			hostPort: hp,
			env: map[string]string{
				"CLUSTER_ID":                                     clusterID(region),
				"KAFKA_NODE_ID":                                  strconv.Itoa(i),
				"KAFKA_PROCESS_ROLES":                            "broker,controller",
				"KAFKA_LISTENERS":                                fmt.Sprintf("PLAINTEXT://0.0.0.0:%d,BROKER://0.0.0.0:9092,CONTROLLER://0.0.0.0:9094", hp),
				"KAFKA_ADVERTISED_LISTENERS":                     fmt.Sprintf("PLAINTEXT://%s:%d,BROKER://%s:9092", loopback, hp, aliases[i]),
				"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":           "BROKER:PLAINTEXT,PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
				"KAFKA_INTER_BROKER_LISTENER_NAME":               "BROKER",
				"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
				"KAFKA_CONTROLLER_QUORUM_VOTERS":                 strings.Join(voters, ","),
				"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         rf,
				"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": rf,
				"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
				"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
				"KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS":             "100",
			},
		}
	}
	return nodes
}

// clusterID is a fixed base64 UUID per region (KRaft needs one up front).
func clusterID(region string) string {
	if region == "secondary" {
		return "cGlwZWNoYW9zLXNlY29uZA"
	}
	return "cGlwZWNoYW9zLXByaW1hcn"
}

// startOfficial starts one apache/kafka container per broker, all at once
// (a KRaft quorum needs a majority up to elect a controller).
func (r *region) startOfficial(ctx context.Context, n int) error {
	ports, err := freePorts(n)
	if err != nil {
		return err
	}
	nodes := apacheKafkaNodes(r.name, ports)
	r.procs = make(procs, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, node := range nodes {
		r.bootstrap = append(r.bootstrap, fmt.Sprintf("%s:%d", loopback, node.hostPort))
		wg.Go(func() {
			r.procs[i], errs[i] = r.e.run(ctx, node.role, r.e.ccfg.KafkaImage, []string{node.alias},
				map[int]int{node.hostPort: node.hostPort},
				officialKafkaOpts(node, r.e.ccfg)...)
		})
	}
	wg.Wait()
	return joinErrs(errs)
}

func officialKafkaOpts(node kafkaNode, cfg Config) []testcontainers.ContainerCustomizer {
	return []testcontainers.ContainerCustomizer{
		testcontainers.WithEnv(node.env),
		testcontainers.WithWaitStrategy(&kafkaReady{port: node.hostPort, timeout: cfg.StartupTimeout}),
	}
}

// cpSchemaRegistryEnv configures confluentinc/cp-schema-registry to keep
// its schemas in the primary region's brokers (reached on the network).
func cpSchemaRegistryEnv(primaryAliases []string) map[string]string {
	servers := make([]string, len(primaryAliases))
	for i, a := range primaryAliases {
		servers[i] = "PLAINTEXT://" + a + ":9092"
	}
	return map[string]string{
		"SCHEMA_REGISTRY_HOST_NAME":                           "registry",
		"SCHEMA_REGISTRY_LISTENERS":                           "http://0.0.0.0:8081",
		"SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS":        strings.Join(servers, ","),
		"SCHEMA_REGISTRY_KAFKASTORE_TOPIC_REPLICATION_FACTOR": strconv.Itoa(min(len(primaryAliases), 3)),
	}
}

func portSpec(p int) string { return fmt.Sprintf("%d/tcp", p) }
