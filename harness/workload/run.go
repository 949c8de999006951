package workload

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/harness/history"
)

// Config describes a workload. Zero values take the documented defaults.
type Config struct {
	// Topic to produce to. Required.
	Topic string
	// Records is how many records to produce. Required, > 0.
	Records int
	// Rate is records per second; 0 (default) produces as fast as the
	// producer accepts.
	Rate float64
	// Keys is the key distribution. Default Uniform(64).
	Keys Keys
	// Headers is the wm-site-id header mix. Default: always valid.
	Headers HeaderMix
	// PayloadBytes is the size of each record's random payload. Default 64.
	PayloadBytes int
	// Schemas are the schema versions of the run: record IDs from
	// Schemas[i].From on use Schemas[i].Schema, registered when the first
	// such record is produced. Default: SchemaV1 from the first record.
	Schemas []SchemaStep
	// Seed makes the generator deterministic. Default 1.
	Seed int64
	// RegistryURL is where schemas are registered. Required.
	RegistryURL string
	// History, if set, receives every produce outcome.
	History *history.History
	// Process names the producer in the history. Default "producer".
	Process string
	// MaxInFlight bounds produce calls awaiting an answer. Default 512.
	MaxInFlight int
	// Progress, if set, is called with every acked count that is a
	// multiple of ProgressEvery (default Records/10).
	Progress      func(acked int64)
	ProgressEvery int64
}

// SchemaStep is one schema version of a run.
type SchemaStep struct {
	From   uint64
	Schema string
}

func (c *Config) defaults() error {
	if c.Keys.kind == "" {
		c.Keys = Uniform(64)
	}
	if c.PayloadBytes == 0 {
		c.PayloadBytes = 64
	}
	if len(c.Schemas) == 0 {
		c.Schemas = []SchemaStep{{From: 1, Schema: SchemaV1}}
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Process == "" {
		c.Process = "producer"
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 512
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = int64(max(c.Records/10, 1))
	}
	return c.validate()
}

func (c *Config) validate() error {
	var errs []string
	if c.Records <= 0 {
		errs = append(errs, fmt.Sprintf("records must be positive, got %d", c.Records))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Sprintf("rate cannot be negative, got %g", c.Rate))
	}
	if c.PayloadBytes < 0 {
		errs = append(errs, fmt.Sprintf("payload bytes cannot be negative, got %d", c.PayloadBytes))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, fmt.Sprintf("max in flight must be at least 1, got %d", c.MaxInFlight))
	}
	if err := c.Keys.validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if err := c.Headers.validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if c.Schemas[0].From != 1 {
		errs = append(errs, "the first schema step must start at record 1")
	}
	for i := 1; i < len(c.Schemas); i++ {
		if c.Schemas[i].From <= c.Schemas[i-1].From {
			errs = append(errs, "schema steps must start at increasing record IDs")
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("workload config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Ack is where a produced record landed (the role's type, connectors.Ack).
type Ack = connectors.Ack

// Producer is the role the workload drives (connectors.Producer): a plain
// client, or a system under test such as a dual-region failover producer.
// The workload records what done receives in the history; the producer
// never writes it.
type Producer = connectors.Producer

// ErrNotSent wraps errors for records that were never handed to Kafka (the
// schema could not be registered, the value could not be encoded): their
// outcome is a definite failure.
var ErrNotSent = errors.New("record not sent")

// Classify maps a produce error to its outcome: nil is acked; a record that
// was never sent or that a broker rejected with a non-retriable error
// failed; anything else (timeouts, cancellation, exhausted retries, lost
// connections) is indeterminate: it may or may not have been written.
func Classify(err error) history.Outcome {
	if err == nil {
		return history.Acked
	}
	if errors.Is(err, ErrNotSent) {
		return history.Failed
	}
	var ke *kerr.Error
	if errors.As(err, &ke) && !ke.Retriable {
		return history.Failed
	}
	return history.Indeterminate
}

// KafkaProducer adapts a franz-go client in one region.
func KafkaProducer(cl *kgo.Client, region string) Producer {
	return &kafkaProducer{cl: cl, region: region}
}

type kafkaProducer struct {
	cl     *kgo.Client
	region string
}

func (p *kafkaProducer) Produce(ctx context.Context, r *kgo.Record, done func(Ack, error)) {
	p.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		done(Ack{Region: p.region, Partition: r.Partition, Offset: r.Offset}, err)
	})
}

func (p *kafkaProducer) Flush(ctx context.Context) error { return p.cl.Flush(ctx) }

// Stats counts the outcomes of a run.
type Stats struct {
	Attempted     int64
	Acked         int64
	Failed        int64
	Indeterminate int64
	Elapsed       time.Duration
	// FirstErrors holds up to five distinct error texts seen.
	FirstErrors []string
}

func (s Stats) String() string {
	return fmt.Sprintf("attempted=%d acked=%d failed=%d indeterminate=%d in %s",
		s.Attempted, s.Acked, s.Failed, s.Indeterminate, s.Elapsed.Round(time.Millisecond))
}

// Run produces cfg.Records records through p, waits for every outcome, and
// records them in cfg.History. It returns early (after waiting for the
// records in flight) if ctx is done; records never attempted are not in
// the history.
func Run(ctx context.Context, cfg Config, p Producer) (Stats, error) {
	if err := cfg.defaults(); err != nil {
		return Stats{}, err
	}
	gen, err := NewGenerator(cfg)
	if err != nil {
		return Stats{}, err
	}
	src, err := sr.NewClient(sr.URLs(cfg.RegistryURL))
	if err != nil {
		return Stats{}, fmt.Errorf("registry client: %w", err)
	}
	var (
		st       Stats
		mu       sync.Mutex
		wg       sync.WaitGroup
		sem      = make(chan struct{}, cfg.MaxInFlight)
		acked    atomic.Int64
		encs     = make([]*encoder, len(cfg.Schemas))
		encErrs  = make([]error, len(cfg.Schemas))
		start    = time.Now()
		interval time.Duration
	)
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	record := func(rec Record, ack Ack, err error) {
		o := Classify(err)
		if cfg.History != nil {
			cfg.History.Produced(cfg.Process, rec.ID, rec.Key, o, ack.Region, cfg.Topic, ack.Partition, ack.Offset, err)
		}
		mu.Lock()
		switch o {
		case history.Acked:
			st.Acked++
		case history.Failed:
			st.Failed++
		default:
			st.Indeterminate++
		}
		if err != nil && len(st.FirstErrors) < 5 {
			msg := err.Error()
			seen := false
			for _, e := range st.FirstErrors {
				seen = seen || e == msg
			}
			if !seen {
				st.FirstErrors = append(st.FirstErrors, msg)
			}
		}
		mu.Unlock()
		if o == history.Acked && cfg.Progress != nil {
			if n := acked.Add(1); n%cfg.ProgressEvery == 0 {
				cfg.Progress(n)
			}
		}
	}

	var timer *time.Timer
	for i := 0; i < cfg.Records; i++ {
		if interval > 0 {
			if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-ctx.Done():
				case <-timer.C:
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		rec := gen.Next()
		payload := gen.payloadBytes()
		st.Attempted++

		if encs[rec.Step] == nil && encErrs[rec.Step] == nil {
			encs[rec.Step], encErrs[rec.Step] = register(ctx, src, cfg.Topic, cfg.Schemas[rec.Step].Schema)
			if cfg.History != nil {
				if encErrs[rec.Step] != nil {
					cfg.History.Note(cfg.Process, fmt.Sprintf("schema step %d rejected: %v", rec.Step+1, encErrs[rec.Step]))
				} else {
					cfg.History.Note(cfg.Process, fmt.Sprintf("schema step %d registered as id %d", rec.Step+1, encs[rec.Step].id))
				}
			}
		}
		if err := encErrs[rec.Step]; err != nil {
			record(rec, Ack{}, fmt.Errorf("%w: %w", ErrNotSent, err))
			continue
		}
		value, err := encs[rec.Step].encode(rec, payload, time.Now())
		if err != nil {
			record(rec, Ack{}, fmt.Errorf("%w: encode: %w", ErrNotSent, err))
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			st.Attempted--
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		p.Produce(ctx, kafkaRecord(cfg.Topic, rec, value), func(a Ack, err error) {
			defer wg.Done()
			defer func() { <-sem }()
			record(rec, a, err)
		})
	}
	if timer != nil {
		timer.Stop()
	}
	flushErr := p.Flush(ctx)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	st.Elapsed = time.Since(start)
	if flushErr != nil && ctx.Err() == nil {
		return st, fmt.Errorf("flush producer: %w", flushErr)
	}
	return st, nil
}

// register registers schema under the topic's value subject and returns an
// encoder for its id. A rejection (incompatible, invalid) is returned as is:
// it is the producer being told "no" at registration, before any record.
func register(ctx context.Context, cl *sr.Client, topic, schema string) (*encoder, error) {
	ss, err := cl.CreateSchema(ctx, topic+SubjectSuffix, sr.Schema{Schema: schema, Type: sr.TypeAvro})
	if err != nil {
		return nil, fmt.Errorf("register schema: %w", err)
	}
	return newEncoder(schema, ss.ID)
}
