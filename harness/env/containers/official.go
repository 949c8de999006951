package containers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/pipechaos/pipechaos/fakes/kafkaproxy"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/protoproxy"
)

// Apache Kafka images: pipechaos/apache-kafka (built by `make images`:
// the Maven jars of scripts/kafka-dist.sh on a debootstrapped JRE) and the
// official apache/kafka, configured alike through KAFKA_* variables. One
// container per broker, every broker also a KRaft controller.

// kafkaNode is one broker container of an Apache Kafka image.
type kafkaNode struct {
	role       string // container role label and name suffix
	alias      string // network alias: inter-broker and controller traffic
	hostPort   int    // PLAINTEXT listener, same port inside and on 127.0.0.1
	clientAddr string // host:port clients are told to use for this broker
	env        map[string]string
}

// clientAddrs decides the address every broker advertises to clients on
// the host: its own published loopback port. Clients do not dial it
// themselves: the region's protocol proxy (region.front) has it as the
// broker's upstream and rewrites Metadata, FindCoordinator and
// DescribeCluster answers to its own listeners.
func clientAddrs(hostPorts []int) []string {
	addrs := make([]string, len(hostPorts))
	for i, hp := range hostPorts {
		addrs[i] = fmt.Sprintf("%s:%d", loopback, hp)
	}
	return addrs
}

// Replication of the Apache Kafka regions: real replicas, three of them
// when the region has three brokers, and acks=all needs two in sync.
func replicationFactor(brokers int) int { return min(brokers, 3) }
func minInsync(brokers int) int         { return max(1, min(brokers-1, 2)) }

// apacheKafkaNodes configures a KRaft cluster of len(hostPorts) combined
// broker+controller nodes. Node IDs are 0..n-1 like pipechaos-kafka's.
// Clients on the host use PLAINTEXT on the published port (advertised as
// clientAddrs decides); containers and the other brokers use
// BROKER://alias:9092, the quorum CONTROLLER://alias:9094.
//
// The settings beyond the listeners are those Kafka's own test harnesses
// use to react in seconds: no initial rebalance delay, short session and
// replica lag timeouts, few internal partitions and threads, no automatic
// leader rebalancing (a restarted broker does not take its leaders back
// behind the scenario's back).
func apacheKafkaNodes(region string, hostPorts []int) []kafkaNode {
	n := len(hostPorts)
	addrs := clientAddrs(hostPorts)
	aliases := make([]string, n)
	voters := make([]string, n)
	for i := range n {
		aliases[i] = fmt.Sprintf("kafka-%s-%d", region, i)
		voters[i] = fmt.Sprintf("%d@%s:9094", i, aliases[i])
	}
	rf := strconv.Itoa(replicationFactor(n))
	isr := strconv.Itoa(minInsync(n))
	nodes := make([]kafkaNode, n)
	for i, hp := range hostPorts {
		nodes[i] = kafkaNode{
			role:       aliases[i],
			alias:      aliases[i],
			hostPort:   hp,
			clientAddr: addrs[i],
			env: map[string]string{
				"CLUSTER_ID":                           clusterID(region),
				"KAFKA_NODE_ID":                        strconv.Itoa(i),
				"KAFKA_PROCESS_ROLES":                  "broker,controller",
				"KAFKA_LISTENERS":                      fmt.Sprintf("PLAINTEXT://0.0.0.0:%d,BROKER://0.0.0.0:9092,CONTROLLER://0.0.0.0:9094", hp),
				"KAFKA_ADVERTISED_LISTENERS":           fmt.Sprintf("PLAINTEXT://%s,BROKER://%s:9092", addrs[i], aliases[i]),
				"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "BROKER:PLAINTEXT,PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
				"KAFKA_INTER_BROKER_LISTENER_NAME":     "BROKER",
				"KAFKA_CONTROLLER_LISTENER_NAMES":      "CONTROLLER",
				"KAFKA_CONTROLLER_QUORUM_VOTERS":       strings.Join(voters, ","),
				"KAFKA_HEAP_OPTS":                      "-Xmx256m -Xms256m",
				// C1 only and the serial collector: six brokers start on
				// two cores in half the CPU time; a test's load needs no
				// C2-compiled code.
				"KAFKA_JVM_PERFORMANCE_OPTS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:CICompilerCount=1 -Djava.awt.headless=true",
				// No DNS cache: a killed, restarted or reconnected container
				// can come back on another address, even on one a peer
				// held before. A JVM that kept the old answer (30s by
				// default) sent a peer's raft requests to the wrong broker,
				// or to itself, and KRaft stopped on the inconsistent
				// leader ("Received request or response with leader 0 and
				// epoch 11 which is inconsistent with current leader 0").
				"KAFKA_OPTS": "-Dsun.net.inetaddr.ttl=0 -Dsun.net.inetaddr.negative.ttl=0",

				"KAFKA_DEFAULT_REPLICATION_FACTOR":               rf,
				"KAFKA_MIN_INSYNC_REPLICAS":                      isr,
				"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         rf,
				"KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS":             "5",
				"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": rf,
				"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            isr,
				"KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS":     "3",
				"KAFKA_NUM_PARTITIONS":                           "3",
				"KAFKA_AUTO_LEADER_REBALANCE_ENABLE":             "false",

				"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
				"KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS":     "100",
				"KAFKA_REPLICA_LAG_TIME_MAX_MS":          "5000",
				"KAFKA_REPLICA_SOCKET_TIMEOUT_MS":        "1500",
				"KAFKA_REPLICA_FETCH_WAIT_MAX_MS":        "100",
				// A connection a broker opens to a peer that is cut off
				// (docker network disconnect drops its packets) waits out
				// the connection setup timeout, which doubles per try up
				// to 30s by default. After the heal the followers' fetchers
				// kept waiting on such attempts for 30-60s, and acks=all
				// produces failed with NOT_ENOUGH_REPLICAS that long.
				"KAFKA_SOCKET_CONNECTION_SETUP_TIMEOUT_MS":        "1000",
				"KAFKA_SOCKET_CONNECTION_SETUP_TIMEOUT_MAX_MS":    "2000",
				"KAFKA_BROKER_HEARTBEAT_INTERVAL_MS":              "500",
				"KAFKA_BROKER_SESSION_TIMEOUT_MS":                 "3000",
				"KAFKA_CONTROLLER_QUORUM_FETCH_TIMEOUT_MS":        "2000",
				"KAFKA_CONTROLLER_QUORUM_ELECTION_TIMEOUT_MS":     "1000",
				"KAFKA_CONTROLLER_QUORUM_ELECTION_BACKOFF_MAX_MS": "500",
				"KAFKA_LOG_CLEANER_DEDUPE_BUFFER_SIZE":            "2097152",
				"KAFKA_NUM_NETWORK_THREADS":                       "2",
				"KAFKA_NUM_IO_THREADS":                            "2",
				"KAFKA_BACKGROUND_THREADS":                        "2",
				"KAFKA_NUM_REPLICA_FETCHERS":                      "1",
				"KAFKA_LOG_FLUSH_SCHEDULER_INTERVAL_MS":           "9223372036854775807",
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

// startOfficial starts one container per broker, all at once (a KRaft
// quorum needs a majority up to elect a controller), then waits until the
// region's metadata lists every broker and a controller.
func (r *region) startOfficial(ctx context.Context, n int) error {
	ports, err := freePorts(n)
	if err != nil {
		return err
	}
	nodes := apacheKafkaNodes(r.name, ports)
	r.procs = make(procs, n)
	r.aliases = make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	upstream := map[int32]string{}
	for i, node := range nodes {
		upstream[int32(i)] = node.clientAddr
		r.aliases[i] = node.alias
		wg.Go(func() {
			r.procs[i], errs[i] = r.e.run(ctx, node.role, r.e.ccfg.KafkaImage, []string{node.alias},
				map[int]int{node.hostPort: node.hostPort},
				officialKafkaOpts(node, r.e.ccfg)...)
		})
	}
	wg.Wait()
	if err := joinErrs(errs); err != nil {
		return err
	}
	// Clients (the harness's, a sink's, a sidecar's on the host network)
	// reach the brokers only through the front, so protocol errors and
	// slowed requests work on real Kafka as on pipechaos-kafka; the
	// brokers replicate among themselves directly.
	front, err := protoproxy.New(kafkaproxy.Config{Brokers: upstream})
	if err != nil {
		return fmt.Errorf("protocol proxy of region %s: %w", r.name, err)
	}
	r.front = front
	r.bootstrap = front.Bootstrap()
	r.e.addCloser(front.Close) // runs before the containers go
	return r.waitBrokers(ctx, r.nodes...)
}

func officialKafkaOpts(node kafkaNode, cfg Config) []testcontainers.ContainerCustomizer {
	return []testcontainers.ContainerCustomizer{
		testcontainers.WithEnv(node.env),
		// testcontainers.WithWaitStrategy alone would cut the wait at 60s.
		testcontainers.WithWaitStrategyAndDeadline(cfg.StartupTimeout, &kafkaReady{port: node.hostPort, timeout: cfg.StartupTimeout}),
	}
}

// waitBrokers waits until the region's metadata lists every node of want
// (registered and unfenced) and names a controller: a broker that answers
// on its port may not have joined the cluster yet.
func (r *region) waitBrokers(ctx context.Context, want ...int32) error {
	cl, err := r.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, r.e.ccfg.StartupTimeout)
	defer cancel()
	var last string
	for {
		mctx, mcancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := adm.BrokerMetadata(mctx)
		mcancel()
		if err == nil {
			var have []int32
			for _, b := range m.Brokers {
				have = append(have, b.NodeID)
			}
			missing := slices.DeleteFunc(slices.Clone(want), func(id int32) bool { return slices.Contains(have, id) })
			if len(missing) == 0 && m.Controller >= 0 {
				return nil
			}
			last = fmt.Sprintf("metadata lists brokers %v, controller %d; waiting for %v", have, m.Controller, missing)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("region %s: brokers %v not all in the cluster's metadata within %v: %s", r.name, want, r.e.ccfg.StartupTimeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ReplicationFactor is the default replication factor of new topics
// (env.Replicated; Apache Kafka images only, see officialRegion).
func (r officialRegion) ReplicationFactor() int { return replicationFactor(len(r.nodes)) }

// MinInsyncReplicas is the default min.insync.replicas.
func (r officialRegion) MinInsyncReplicas() int { return minInsync(len(r.nodes)) }

// IsolateFromPeers cuts one broker off from the other brokers of its
// region (replication and the KRaft quorum) while clients on the host
// still reach it: iptables DROP rules, inside that broker's network
// namespace, for the addresses of its peer containers. The host's clients
// come in through Docker's port proxy from the network's gateway, which
// the rules leave alone. A peer that restarts during the split may come
// back on another address and reach the broker again.
func (r officialRegion) IsolateFromPeers(ctx context.Context, node int32) error {
	p, err := r.node(node)
	if err != nil {
		return err
	}
	var peers []string
	for i, q := range r.procs {
		if int32(i) == node {
			continue
		}
		ip, err := q.ip(ctx)
		if err != nil {
			return err
		}
		if ip != "" {
			peers = append(peers, ip)
		}
	}
	if len(peers) == 0 {
		return fmt.Errorf("isolate broker %d of %s from its peers: no peer has an address on the network", node, r.name)
	}
	return p.dropPeers(ctx, peers)
}

// HealPeers removes IsolateFromPeers' rules.
func (r officialRegion) HealPeers(ctx context.Context, node int32) error {
	p, err := r.node(node)
	if err != nil {
		return err
	}
	return p.healPeers(ctx)
}

// ip is the container's address on the environment's network ("" when
// it has none: stopped or disconnected).
func (p *proc) ip(ctx context.Context) (string, error) {
	res, err := p.e.docker.ContainerInspect(ctx, p.id(), client.ContainerInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("inspect %s: %w", p.role, err)
	}
	ns := res.Container.NetworkSettings
	if ns == nil {
		return "", nil
	}
	for _, ep := range ns.Networks {
		if ep != nil && ep.NetworkID == p.e.net.ID && ep.IPAddress.IsValid() {
			return ep.IPAddress.String(), nil
		}
	}
	return "", nil
}

// peerChain is the iptables chain, in a broker's own network namespace,
// that holds its peer split.
const peerChain = "PIPECHAOS-PEERS"

// dropPeers installs the split: one chain dropping traffic from and to
// each peer address, jumped to from INPUT and OUTPUT. The rules live in
// the container's network namespace and vanish with it.
func (p *proc) dropPeers(ctx context.Context, peers []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.peerSplit {
		return nil
	}
	pid, err := p.pid(ctx)
	if err != nil {
		return err
	}
	cmds := [][]string{{"-N", peerChain}}
	for _, ip := range peers {
		cmds = append(cmds, []string{"-A", peerChain, "-s", ip, "-j", "DROP"}, []string{"-A", peerChain, "-d", ip, "-j", "DROP"})
	}
	cmds = append(cmds, []string{"-I", "INPUT", "-j", peerChain}, []string{"-I", "OUTPUT", "-j", peerChain})
	for _, c := range cmds {
		if err := nsIptables(ctx, pid, c...); err != nil {
			_ = flushPeers(ctx, pid)
			return fmt.Errorf("split %s from its peers: %w", p.role, err)
		}
	}
	p.peerSplit = true
	p.peerPID = pid
	return nil
}

func (p *proc) healPeers(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.peerSplit {
		return nil
	}
	pid, err := p.pid(ctx)
	if err != nil || pid != p.peerPID {
		// The container stopped or restarted since: a new network
		// namespace without the rules, nothing to heal.
		p.peerSplit = false
		return nil
	}
	if err := flushPeers(ctx, pid); err != nil {
		return fmt.Errorf("heal the peer split of %s: %w", p.role, err)
	}
	p.peerSplit = false
	return nil
}

func flushPeers(ctx context.Context, pid int) error {
	var errs []error
	for _, c := range [][]string{{"-D", "INPUT", "-j", peerChain}, {"-D", "OUTPUT", "-j", peerChain}, {"-F", peerChain}, {"-X", peerChain}} {
		if err := nsIptables(ctx, pid, c...); err != nil && !strings.Contains(err.Error(), "No chain") && !strings.Contains(err.Error(), "does not exist") {
			errs = append(errs, err)
		}
	}
	return joinErrs(errs)
}

// pid is the container's main process on the host (0 when not running).
func (p *proc) pid(ctx context.Context) (int, error) {
	res, err := p.e.docker.ContainerInspect(ctx, p.id(), client.ContainerInspectOptions{})
	if err != nil {
		return 0, fmt.Errorf("inspect %s: %w", p.role, err)
	}
	if res.Container.State == nil || !res.Container.State.Running || res.Container.State.Pid <= 0 {
		return 0, fmt.Errorf("%s is not running", p.role)
	}
	return res.Container.State.Pid, nil
}

// nsIptables runs the host's iptables inside the network namespace of
// process pid (a container of this environment).
func nsIptables(ctx context.Context, pid int, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(pid), "-n", "--", "iptables", "-w", "5"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nsenter -t %d -n iptables %s: %v: %s", pid, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// peerSplitAvailable says why IsolateFromPeers cannot work here, or "".
func peerSplitAvailable() string {
	if os.Geteuid() != 0 {
		return "splitting a broker from its peers enters its container's network namespace (nsenter + iptables) and needs root"
	}
	for _, bin := range []string{"nsenter", "iptables"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Sprintf("splitting a broker from its peers needs %s on the host (%v)", bin, err)
		}
	}
	return ""
}

// officialRegion is a region of an Apache Kafka image: it adds what real
// Kafka brings (replication, a split from peers) to region's methods.
type officialRegion struct{ *region }

var (
	_ env.Replicated      = officialRegion{}
	_ env.PeerPartitioner = officialRegion{}
	_ env.BrokerPauser    = officialRegion{}
)

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
