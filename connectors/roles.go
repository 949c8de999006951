package connectors

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// IDHeader is the record header in which the harness's workload carries
// each record's unique ID, in decimal (the value carries it too, as the
// "id" field). A system under test may copy it; it never has to.
const IDHeader = "pipechaos-id"

// Addresses is everything a sink needs to find the environment.
type Addresses struct {
	Brokers     []string
	Topic       string
	Group       string
	RegistryURL string
	S3Endpoint  string // host:port, plain HTTP
	S3AccessKey string
	S3SecretKey string
	Bucket      string
}

// Sink is the role of a Kafka→S3 sink under test. Run consumes until ctx is
// done or Close is called (returning nil then) or a fatal error.
type Sink interface {
	Run(ctx context.Context) error
	Close()
}

// SinkFactory builds a sink from addresses. name is unique per sink in a
// run (use it as a metrics label or client id).
type SinkFactory func(a Addresses, name string) (Sink, error)

// Ack is where a produced record landed.
type Ack struct {
	Region    string
	Partition int32
	Offset    int64
}

// Producer is the role of a producer under test (a plain client, a
// dual-region failover producer). Produce must call done exactly once; a
// nil error means the record is acknowledged and must reach the store.
// What done receives is recorded by the harness's wrapper, not by the
// producer.
type Producer interface {
	Produce(ctx context.Context, r *kgo.Record, done func(Ack, error))
	Flush(ctx context.Context) error
}

// Regions is everything a producer under test needs to find the two
// Kafka regions it writes to.
type Regions struct {
	Primary   []string // bootstrap brokers of the primary region
	Secondary []string // bootstrap brokers of the secondary region
}

// ProducerFactory builds a producer under test on the two regions. If
// the producer has a Close() or Close() error method, the harness calls it
// once the run no longer needs the producer. An Ack's Region should be
// "primary" or "secondary": the report counts acks by the region they
// name (the verdict reads the regions themselves, never the acks' word).
type ProducerFactory func(r Regions) (Producer, error)

// TransformFactory builds a transform under test; it is called once per
// run.
type TransformFactory func() (Transform, error)

// PolicyFactory builds a scaling policy under test; it is called once per
// run.
type PolicyFactory func() Policy

// Transform is one step of the chain every record goes through in a sink
// before it is buffered, like a Kafka Connect single message transform. It
// may modify the record (headers, key, value) in place. See s3sink.Config
// for how a chain runs.
type Transform interface {
	Apply(r *kgo.Record) (Routed, error)
}

// Routed is what a Transform decided about a record.
type Routed struct {
	// Route, if not empty, prefixes the record's object key:
	// "<Route>/topics/<topic>/...". Slashes around it are trimmed; inner
	// slashes make deeper prefixes. Records of different routes never
	// share an object.
	Route string
	// Drop filters the record out: it is not written, but its offset is
	// committed with its neighbours.
	Drop bool
}

// TransformFunc adapts a function to Transform.
type TransformFunc func(r *kgo.Record) (Routed, error)

// Apply calls f(r).
func (f TransformFunc) Apply(r *kgo.Record) (Routed, error) { return f(r) }

// Signals is what a scaling Policy sees at one evaluation.
type Signals struct {
	// Lag is the group's records behind the log end (committed offsets vs
	// end offsets, summed over the topic's partitions); -1 if it could not
	// be measured.
	Lag int64
	// Workers is the number of workers running now.
	Workers int
	// Throughput is the records per second the workers consumed over the
	// pool's throughput window.
	Throughput float64
	// CPU is the share of one core each worker uses, if known (0 if not).
	CPU float64
	// Now is the time of the evaluation.
	Now time.Time
	// MinWorkers and MaxWorkers are the pool's bounds (0: none): the
	// pool clamps every answer to them, so asking beyond them changes
	// nothing.
	MinWorkers, MaxWorkers int
}

func (s Signals) String() string {
	return fmt.Sprintf("lag %d, %.0f rec/s over %d workers", s.Lag, s.Throughput, s.Workers)
}

// Policy is the role of a scaling policy: how many workers a pool of
// consumers should run, given the signals. It is called from one
// goroutine, once per evaluation.
type Policy interface {
	Desired(s Signals) int
}

// Job is the role of a batch job that a scheduler runs again and again
// (connectors/batchloader is ours). Each RunOnce reads what reached the
// topic since the last run, writes it to the store under
// JobAddresses.Prefix and returns; a nil error is the run reporting
// success. The harness counts the runs and judges the job from the bucket
// and the store's write log alone, never from what RunOnce returns.
// Close releases the job once the harness no longer runs it.
type Job interface {
	RunOnce(ctx context.Context) error
	Close()
}

// JobAddresses is everything a batch job under test needs: the
// environment, where its loads go, and the harness's assignment hook.
type JobAddresses struct {
	Addresses
	// Prefix is where the job writes the records it loads, as objects
	// under s3://<Bucket>/<Prefix> that the checker reads (JSON lines or
	// Avro, every record carrying its "id"; see the checker's object
	// rules). The job's own state (bookmarks) belongs elsewhere in the
	// bucket. It ends in "/".
	Prefix string
	// Assign stands for the consumer group's assignor: before reading, a
	// run passes the topic's partitions it would read and reads only the
	// ones returned. Through it the harness injects a rebalance that takes
	// a partition away from one run. A job that never asks leaves the
	// fault nothing to act on, and its run is inconclusive.
	Assign func(partitions []int32) []int32
}

// JobFactory builds a batch job under test; it is called once per run.
type JobFactory func(a JobAddresses) (Job, error)
