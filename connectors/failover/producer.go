package failover

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors"
)

// ErrBothRegions is wrapped by the error of a record no region
// acknowledged. Whether that record may still exist somewhere follows the
// producer's own rule (notWritten): it failed only if both attempts failed
// definitely; if either attempt's outcome is unknown, so is the record's.
var ErrBothRegions = errors.New("failover: no region acknowledged the record")

// ErrClosed is the error of records whose primary attempt failed after
// Close began: they are not failed over.
var ErrClosed = errors.New("failover: producer closed")

// Producer sends each record to the primary region and, if the primary
// fails, to the secondary. It implements connectors.Producer.
type Producer struct {
	cfg       Config
	primary   *kgo.Client
	secondary *kgo.Client
	m         *metrics

	// onPrimaryFailure decides what happens to a record the primary did not
	// acknowledge; its result is what the caller's done receives. New
	// installs failover.
	onPrimaryFailure func(ctx context.Context, r *kgo.Record, primaryErr error) (connectors.Ack, error)

	mu        sync.Mutex
	closed    bool
	failing   sync.WaitGroup // failovers in progress
	closeOnce sync.Once
}

var _ connectors.Producer = (*Producer)(nil)

// New validates cfg and connects a client to each region.
func New(cfg Config) (*Producer, error) {
	p, err := newProducer(cfg)
	if err != nil {
		return nil, err
	}
	p.onPrimaryFailure = p.failover
	return p, nil
}

func newProducer(cfg Config) (*Producer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("failover: invalid config:\n%w", err)
	}
	m, err := newMetrics(cfg.Process, cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("failover: %w", err)
	}
	p := &Producer{cfg: cfg, m: m}
	if p.primary, err = p.client(cfg.Primary); err != nil {
		return nil, fmt.Errorf("failover: create %s client: %w", cfg.PrimaryName, err)
	}
	if p.secondary, err = p.client(cfg.Secondary); err != nil {
		p.primary.Close()
		return nil, fmt.Errorf("failover: create %s client: %w", cfg.SecondaryName, err)
	}
	for _, r := range []string{cfg.PrimaryName, cfg.SecondaryName} {
		m.attempts.WithLabelValues(r)
		m.acks.WithLabelValues(r)
		m.failures.WithLabelValues(r)
	}
	for _, o := range []string{outcomeFailed, outcomeUnknown} {
		m.failovers.WithLabelValues(o)
	}
	return p, nil
}

// client builds one region's client. Idempotence is kgo's default and stays
// on: within a region, the client's own retries never duplicate a record.
// Delivery is bounded in time and retries so that a dead region is noticed
// in about DeliveryTimeout; AllowIdempotentProduceCancellation lets that
// bound apply to records already in flight too, which is exactly what makes
// a failed-over record possibly present in both regions (counted, see
// possible_duplicates_total).
func (p *Producer) client(seeds []string) (*kgo.Client, error) {
	opts := []kgo.Opt{
		kgo.RecordDeliveryTimeout(p.cfg.DeliveryTimeout),
		kgo.RecordRetries(p.cfg.RecordRetries),
		kgo.AllowIdempotentProduceCancellation(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}
	opts = append(opts, p.cfg.KgoOpts...)
	opts = append(opts, kgo.SeedBrokers(seeds...))
	return kgo.NewClient(opts...)
}

// Produce sends r to the primary region. done is called exactly once: with
// the primary's ack, or, after the primary failed, with the outcome of the
// synchronous attempt on the secondary.
func (p *Producer) Produce(ctx context.Context, r *kgo.Record, done func(connectors.Ack, error)) {
	p.m.attempts.WithLabelValues(p.cfg.PrimaryName).Inc()
	p.primary.Produce(ctx, r, func(r *kgo.Record, err error) {
		if err == nil {
			p.m.acks.WithLabelValues(p.cfg.PrimaryName).Inc()
			done(connectors.Ack{Region: p.cfg.PrimaryName, Partition: r.Partition, Offset: r.Offset}, nil)
			return
		}
		p.m.failures.WithLabelValues(p.cfg.PrimaryName).Inc()
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			p.m.errors.Inc()
			done(connectors.Ack{Region: p.cfg.PrimaryName}, fmt.Errorf("%w: %s failed with %v and the record was not failed over", ErrClosed, p.cfg.PrimaryName, err))
			return
		}
		p.failing.Add(1)
		p.mu.Unlock()
		// The promise runs on the client's goroutine, which must not block
		// on another region: the failover waits on its own goroutine, and
		// done is called only once it has an answer.
		go func() {
			defer p.failing.Done()
			done(p.onPrimaryFailure(ctx, r, err))
		}()
	})
}

// failover sends a record the primary failed to the secondary and waits for
// its answer. It never reports success without the secondary's ack.
func (p *Producer) failover(ctx context.Context, r *kgo.Record, primaryErr error) (connectors.Ack, error) {
	primaryFailed := notWritten(primaryErr)
	p.m.failovers.WithLabelValues(outcomeLabel(primaryFailed)).Inc()
	p.m.attempts.WithLabelValues(p.cfg.SecondaryName).Inc()

	// A fresh record: the failed one carries the primary's partition,
	// offset and producer state. Its timestamp is not copied either: kgo
	// measures RecordDeliveryTimeout from Record.Timestamp, so the primary's
	// timestamp would make the secondary attempt time out before it began.
	again := &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers}
	res := p.secondary.ProduceSync(ctx, again)
	got, err := res.First()
	ack := connectors.Ack{Region: p.cfg.SecondaryName, Partition: -1, Offset: -1}
	if err == nil {
		ack.Partition, ack.Offset = got.Partition, got.Offset
		p.m.acks.WithLabelValues(p.cfg.SecondaryName).Inc()
		if !primaryFailed {
			p.m.duplicates.Inc()
		}
		return ack, nil
	}
	p.m.failures.WithLabelValues(p.cfg.SecondaryName).Inc()
	p.m.errors.Inc()
	p.cfg.Logf("failover %s: %s and %s both failed: %v; %v", p.cfg.Process, p.cfg.PrimaryName, p.cfg.SecondaryName, primaryErr, err)
	if primaryFailed && notWritten(err) {
		// Both definitely not written: keep both causes inspectable.
		return ack, fmt.Errorf("%w: %s: %w; %s: %w", ErrBothRegions, p.cfg.PrimaryName, primaryErr, p.cfg.SecondaryName, err)
	}
	// At least one attempt may have been written: the record's outcome is
	// unknown, so neither cause is wrapped (a definite kerr from one region
	// must not make the whole record look definitely failed).
	return ack, fmt.Errorf("%w (outcome unknown): %s: %v; %s: %v", ErrBothRegions, p.cfg.PrimaryName, primaryErr, p.cfg.SecondaryName, err)
}

// Flush waits until every record produced so far has its outcome: the
// primary's answers, then the failovers they started.
func (p *Producer) Flush(ctx context.Context) error {
	if err := p.primary.Flush(ctx); err != nil {
		return fmt.Errorf("failover: flush %s: %w", p.cfg.PrimaryName, err)
	}
	waited := make(chan struct{})
	go func() {
		p.failing.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
		return fmt.Errorf("failover: wait for failovers: %w", ctx.Err())
	}
	if err := p.secondary.Flush(ctx); err != nil {
		return fmt.Errorf("failover: flush %s: %w", p.cfg.SecondaryName, err)
	}
	return nil
}

// Close waits for failovers in progress, then closes both clients. Records
// whose primary attempt fails after Close began are returned as ErrClosed
// errors, not failed over. Close is idempotent.
func (p *Producer) Close() {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.failing.Wait()
		p.primary.Close()
		p.secondary.Close()
	})
}

// The outcomes of a failed primary attempt, as the failovers_total metric
// labels them.
const (
	outcomeFailed  = "failed"        // definitely not written
	outcomeUnknown = "indeterminate" // may have been written
)

// notWritten is the producer's own reading of a produce error: true only
// when the broker definitely did not write the record (a non-retriable
// Kafka error, such as a record too large or an unknown topic). Timeouts,
// cancellations, exhausted retries and lost connections may have left the
// record in the log, so they are not definite.
func notWritten(err error) bool {
	var ke *kerr.Error
	return errors.As(err, &ke) && !ke.Retriable
}

func outcomeLabel(failed bool) string {
	if failed {
		return outcomeFailed
	}
	return outcomeUnknown
}
