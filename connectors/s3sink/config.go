package s3sink

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors/internal/s3store"
)

// Config configures a Sink. Zero values take the default named in each
// field's comment; negative numbers are errors.
type Config struct {
	// Brokers is the seed broker list, host:port. Required.
	Brokers []string
	// Topic is the topic to sink. Required.
	Topic string
	// Group is the consumer group. Default "pipechaos-s3sink-<Topic>".
	Group string
	// RegistryURL is the schema registry's base URL. Required.
	RegistryURL string

	// S3Endpoint is the store's host:port (plain HTTP), or a URL whose
	// scheme says http or https. Required.
	S3Endpoint string
	// S3AccessKey and S3SecretKey are the store's static credentials.
	S3AccessKey string
	S3SecretKey string
	// Bucket is the bucket objects are written to; it must exist. Required.
	Bucket string

	// FlushSize is the most records one object holds; a partition's buffer
	// is flushed when it reaches it. Default 1000.
	FlushSize int
	// FlushBytes bounds the bytes buffered across ALL partitions, including
	// those being written. When a record would take the total past it, the
	// largest buffer is flushed, and the sink stops polling until writes
	// bring the total back under it. Default 16 MiB.
	FlushBytes int64
	// RotateInterval is the longest a record waits in a buffer before it is
	// flushed (wall clock, from the first record of the buffer). Default 1s.
	RotateInterval time.Duration

	// MaxRetries is how many times one write (or one schema lookup) is
	// retried before Run fails. Default 10.
	MaxRetries int
	// RetryBackoff is the backoff before the first retry; it doubles with
	// each retry up to RetryBackoffMax, with seeded jitter. Default 50ms.
	RetryBackoff time.Duration
	// RetryBackoffMax caps the backoff. Default 2s.
	RetryBackoffMax time.Duration
	// RetryBudget is the total retries of store writes and schema lookups
	// allowed for the whole run; when it is spent, Run returns an error
	// rather than commit anything it could not write. Default 1000.
	RetryBudget int
	// Seed seeds the retry jitter. Default 1.
	Seed uint64

	// SessionTimeout and RebalanceTimeout are the consumer group's timeouts,
	// scaled down for scenarios. Defaults 6s and 10s.
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration

	// Transforms are applied to every record, in order, before it is
	// buffered (see Transform). Default none.
	Transforms []Transform
	// ErrorTolerance is what a transform's error (or panic, recovered as
	// an error) does, like Kafka Connect's errors.tolerance.
	// ToleranceAll (default): the record goes to the dead-letter object,
	// counted, and the sink goes on. ToleranceNone: the sink fails — Run
	// returns the error, no record at or after it is buffered and no write
	// starts; the bad record's partition stays at its last commit, so a
	// sink restarted with a fixed transform consumes it again. Incident 1
	// ran with "none": one record without a header stopped everything.
	ErrorTolerance string

	// Process names this sink in its log lines and in the metrics' "process"
	// label. Default "s3sink".
	Process string
	// Registerer, if set, also gets the sink's metrics (they always live on
	// the sink's own registry, see Metrics).
	Registerer prometheus.Registerer
	// Logf receives the sink's progress and error lines. Default: discarded.
	Logf func(format string, args ...any)
	// KgoOpts are extra client options, appended after the sink's own (so
	// they win); scenarios pass env.ClientOpts(region.Bootstrap()).
	KgoOpts []kgo.Opt
}

// ErrorTolerance values.
const (
	ToleranceAll  = "all"
	ToleranceNone = "none"
)

const (
	defaultFlushSize        = 1000
	defaultFlushBytes       = 16 << 20
	defaultRotateInterval   = time.Second
	defaultMaxRetries       = 10
	defaultRetryBackoff     = 50 * time.Millisecond
	defaultRetryBackoffMax  = 2 * time.Second
	defaultRetryBudget      = 1000
	defaultSessionTimeout   = 6 * time.Second
	defaultRebalanceTimeout = 10 * time.Second
	defaultProcess          = "s3sink"
)

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Group == "" && c.Topic != "" {
		c.Group = "pipechaos-s3sink-" + c.Topic
	}
	if c.FlushSize == 0 {
		c.FlushSize = defaultFlushSize
	}
	if c.FlushBytes == 0 {
		c.FlushBytes = defaultFlushBytes
	}
	if c.RotateInterval == 0 {
		c.RotateInterval = defaultRotateInterval
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = defaultMaxRetries
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = defaultRetryBackoff
	}
	if c.RetryBackoffMax == 0 {
		c.RetryBackoffMax = max(defaultRetryBackoffMax, c.RetryBackoff)
	}
	if c.RetryBudget == 0 {
		c.RetryBudget = defaultRetryBudget
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = defaultSessionTimeout
	}
	if c.RebalanceTimeout == 0 {
		c.RebalanceTimeout = defaultRebalanceTimeout
	}
	if c.Process == "" {
		c.Process = defaultProcess
	}
	if c.ErrorTolerance == "" {
		c.ErrorTolerance = ToleranceAll
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// validate reports every problem with c (after defaults), one per line.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	errs = append(errs, s3store.Where(c.Brokers, c.Topic, "sink", c.S3Endpoint, c.Bucket)...)
	if c.RegistryURL == "" {
		bad("no schema registry: set RegistryURL, the sink needs it to read the writer schema of each record")
	}
	if c.FlushSize < 0 {
		bad("flush size cannot be negative (got %d): leave it zero for the default of %d", c.FlushSize, defaultFlushSize)
	}
	if c.FlushBytes < 0 {
		bad("flush bytes cannot be negative (got %d): leave it zero for the default of %d", c.FlushBytes, defaultFlushBytes)
	}
	if c.RotateInterval < 0 {
		bad("rotate interval cannot be negative (got %s)", c.RotateInterval)
	}
	if c.MaxRetries < 0 {
		bad("max retries cannot be negative (got %d)", c.MaxRetries)
	}
	if c.RetryBackoff < 0 || c.RetryBackoffMax < 0 {
		bad("retry backoffs cannot be negative (got %s and max %s)", c.RetryBackoff, c.RetryBackoffMax)
	}
	if c.RetryBackoffMax < c.RetryBackoff {
		bad("retry backoff max %s is below the first backoff %s: raise RetryBackoffMax", c.RetryBackoffMax, c.RetryBackoff)
	}
	if c.RetryBudget < 0 {
		bad("retry budget cannot be negative (got %d)", c.RetryBudget)
	}
	if c.SessionTimeout < 0 || c.RebalanceTimeout < 0 {
		bad("group timeouts cannot be negative (got session %s, rebalance %s)", c.SessionTimeout, c.RebalanceTimeout)
	}
	if c.ErrorTolerance != ToleranceAll && c.ErrorTolerance != ToleranceNone {
		bad("error tolerance %q is not %q or %q: leave it empty for %q (dead-letter and go on)", c.ErrorTolerance, ToleranceAll, ToleranceNone, ToleranceAll)
	}
	for i, t := range c.Transforms {
		if t == nil {
			bad("transform %d is nil: remove it from Transforms", i)
		}
	}
	return errors.Join(errs...)
}
