// Package env provides the infrastructure a scenario runs on: two Kafka
// regions ("primary" and "secondary"), a Confluent-compatible schema registry
// and an S3 object store with one bucket. A backend provides it: "embedded"
// (the default: kfake, the pipechaos registry and gofakes3, all in this
// process on 127.0.0.1), "nodes" (real Apache Kafka brokers, the registry
// and MinIO as processes, each broker in a network namespace of its own) or
// "containers" (the same roles in Docker containers started through
// testcontainers-go).
//
// Everything a connector needs is an address: Region.Bootstrap, RegistryURL,
// Store's endpoint and credentials. Faults the nemeses need are methods on
// Region, Registry and Store; a fault a backend cannot do returns an error
// wrapping ErrUnsupported, and the scenario skips with that reason.
package env

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/fakes/httpfault"
)

// Region names.
const (
	Primary   = "primary"
	Secondary = "secondary"
)

// ErrUnsupported is wrapped by every fault a backend cannot perform.
var ErrUnsupported = errors.New("fault not supported by this backend")

// Environment is two Kafka regions, a registry and a store.
type Environment interface {
	// Backend is "embedded", "nodes" or "containers".
	Backend() string
	// Region returns the named region (Primary or Secondary); nil if unknown.
	Region(name string) Region
	// Registry is the schema registry.
	Registry() Registry
	// Store is the S3-compatible object store.
	Store() Store
	// Close tears everything down. It is idempotent; New registers it with
	// tb.Cleanup, so tests never need to call it.
	Close() error
}

// Region is one Kafka cluster.
type Region interface {
	Name() string
	// Bootstrap is the seed broker list, host:port, reachable from this process.
	Bootstrap() []string
	// Client returns a franz-go client seeded with Bootstrap and the
	// fault-friendly defaults of ClientOpts, then opts. The caller closes it.
	Client(opts ...kgo.Opt) (*kgo.Client, error)
	// CreateTopic creates a topic with the given partitions (replication as
	// the backend allows). Creating an existing topic is not an error.
	CreateTopic(ctx context.Context, topic string, partitions int32) error
	// Brokers lists the node IDs of the region's brokers, running or not.
	Brokers() []int32

	// Stop takes the whole region down: no broker answers. Start brings it
	// back on the same addresses with its data. Both are idempotent.
	Stop(ctx context.Context) error
	Start(ctx context.Context) error
	// CrashBroker kills one broker abruptly; RestartBroker brings it back
	// on the same address with its data.
	CrashBroker(ctx context.Context, node int32) error
	RestartBroker(ctx context.Context, node int32) error
	// Isolate cuts one broker off the network: live connections are
	// closed and new ones refused until Reconnect.
	Isolate(ctx context.Context, node int32) error
	Reconnect(ctx context.Context, node int32) error
}

// ProtocolFaulter is a Region that can answer Kafka requests with errors
// (embedded: kfake Fault). heal removes the fault.
type ProtocolFaulter interface {
	InjectError(req ProtocolFault) (heal func(), err error)
}

// ProtocolFault fails matching requests with a Kafka error code.
type ProtocolFault struct {
	// Key is the Kafka API key (0 produce, 1 fetch, ...); -1 means any.
	Key int16
	// Topic restricts the fault to one topic; "" means any.
	Topic string
	// ErrCode is the Kafka error code to answer with (e.g. 6
	// NOT_LEADER_OR_FOLLOWER, 7 REQUEST_TIMED_OUT).
	ErrCode int16
	// Count is how many requests to fail; -1 until healed.
	Count int
}

// BrokerPauser is a Region that can freeze one broker without killing it
// (nodes: SIGSTOP/SIGCONT; containers: docker pause/unpause): its sockets
// stay open, nothing answers, sessions and ISR membership time out.
type BrokerPauser interface {
	PauseBroker(ctx context.Context, node int32) error
	ResumeBroker(ctx context.Context, node int32) error
}

// PeerPartitioner is a Region that can cut one broker off from the other
// brokers and controllers of its region while clients still reach it (the
// split in which a leader keeps acknowledging acks=1 writes its followers
// never fetch).
type PeerPartitioner interface {
	IsolateFromPeers(ctx context.Context, node int32) error
	HealPeers(ctx context.Context, node int32) error
}

// Replicated is a Region whose partitions are really replicated (real
// Apache Kafka). kfake is not: its regions do not implement it, and a
// scenario that needs replication skips there with the reason.
type Replicated interface {
	// ReplicationFactor is the default replication factor of new topics.
	ReplicationFactor() int
	// MinInsyncReplicas is the default min.insync.replicas.
	MinInsyncReplicas() int
}

// RequestSlower is a Region that can delay one request type.
type RequestSlower interface {
	// SlowRequests delays every request with API key key by d until heal.
	SlowRequests(key int16, d time.Duration) (heal func(), err error)
}

// Registry is the schema registry.
type Registry interface {
	URL() string
	// Faults controls the registry's fault layer.
	Faults() HTTPFaults
	// Stop makes the registry unreachable (connections refused); Start
	// brings it back on the same address with its schemas.
	Stop(ctx context.Context) error
	Start(ctx context.Context) error
}

// Store is the S3-compatible object store.
type Store interface {
	// Endpoint is host:port (plain HTTP).
	Endpoint() string
	AccessKey() string
	SecretKey() string
	// Bucket is the bucket scenarios write to; it exists.
	Bucket() string
	// Faults controls the store's fault layer; its Stats are the cost side
	// of a run (requests, bytes).
	Faults() HTTPFaults
	// Stop and Start take the store process down and back, data kept.
	Stop(ctx context.Context) error
	Start(ctx context.Context) error
}

// HTTPFaults is the control surface of an HTTP fault layer
// (see fakes/httpfault.Layer, which implements it).
type HTTPFaults interface {
	// Inject replaces the active fault.
	Inject(f HTTPFault)
	// Heal removes the active fault.
	Heal()
	// Stats counts what passed through the layer.
	Stats() HTTPStats
}

// HTTPFault describes how an HTTP fault layer misbehaves (the zero value is
// "no fault"); see httpfault.Fault.
type HTTPFault = httpfault.Fault

// HTTPStats counts requests through a fault layer; see httpfault.Stats.
type HTTPStats = httpfault.Stats

// HTTPExchange is one request through a fault layer, as its request log
// holds it; see httpfault.Exchange.
type HTTPExchange = httpfault.Exchange

// HTTPObserver is a fault layer that tells who watches it about every
// request it completed. Every backend's store layer is one (the embedded
// backend's in-process layer, the proxy in front of MinIO): the harness
// learns what a sink wrote from it, never from the sink.
type HTTPObserver interface {
	// Observe calls fn after each request the layer completed, until the
	// returned function is called. fn must not block.
	Observe(fn func(HTTPExchange)) (stop func())
}

// ClientOpts are the fault-friendly franz-go settings every region client
// starts from: short metadata age and retry backoff so a fault costs
// milliseconds to notice, not the real defaults' tens of seconds.
func ClientOpts(bootstrap []string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(bootstrap...),
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.MetadataMaxAge(2 * time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.DialTimeout(2 * time.Second),
		kgo.RequestTimeoutOverhead(2 * time.Second),
		kgo.ConnIdleTimeout(5 * time.Second),
	}
}
