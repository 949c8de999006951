package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
)

// Rebalancing is the group protocol the workers speak.
type Rebalancing int

const (
	// Cooperative is cooperative-sticky rebalancing (KIP-429): a membership
	// change moves only the partitions that must move, and every other
	// partition keeps being consumed through it. The default.
	Cooperative Rebalancing = iota
	// Eager is the classic protocol with the range balancer, Kafka
	// Connect's default: at every rebalance every member gives up every
	// partition, and nothing is consumed until the new assignment.
	Eager
	// ServerSide is the KIP-848 consumer group protocol: the broker
	// computes the assignment and members reconcile to it incrementally,
	// with no group-wide join barrier.
	ServerSide
)

func (r Rebalancing) String() string {
	switch r {
	case Cooperative:
		return "cooperative-sticky"
	case Eager:
		return "eager (range)"
	case ServerSide:
		return "KIP-848 (server-side)"
	}
	return fmt.Sprintf("Rebalancing(%d)", int(r))
}

func (r Rebalancing) opts() []kgo.Opt {
	switch r {
	case Eager:
		return []kgo.Opt{kgo.Balancers(kgo.RangeBalancer())}
	case ServerSide:
		return []kgo.Opt{kgo.Balancers(kgo.StickyBalancer()), kgo.ServerSideBalancer()}
	}
	return []kgo.Opt{kgo.Balancers(kgo.CooperativeStickyBalancer())}
}

// Config configures a Pool. Zero values take the default named in each
// field's comment.
type Config struct {
	// Sink is every worker's configuration: the addresses (Brokers,
	// RegistryURL, S3Endpoint and keys, Bucket), Topic, Group, flush and
	// group timeouts. Sink.Process names the workers
	// "<Process>-<n>"; Sink.Registerer must be nil (each worker keeps its
	// own registry, the pool's metrics sum them). Required.
	Sink s3sink.Config
	// Policy decides the number of workers. Required.
	Policy Policy
	// MinWorkers and MaxWorkers bound the count; the pool starts with
	// MinWorkers. Defaults 1 and 5.
	MinWorkers int
	MaxWorkers int
	// Interval is how often the policy is evaluated. Default 1s
	// (scenarios scale it down to 100ms).
	Interval time.Duration
	// ThroughputWindow is the window the consumption rate is measured
	// over. Default 1s.
	ThroughputWindow time.Duration
	// Rebalancing is the workers' group protocol. Default Cooperative.
	Rebalancing Rebalancing
	// StopTimeout bounds how long a worker being removed may take to write
	// and commit what it consumed before it leaves the group (what it did
	// not commit is consumed again by the others). Default the sink's
	// rebalance timeout, or 10s.
	StopTimeout time.Duration
	// Registerer, if set, also gets the pool's metrics (they always live on
	// the pool's own registry, see Metrics).
	Registerer prometheus.Registerer
	// Logf receives scaling decisions and worker failures. Default:
	// discarded.
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() Config {
	if c.Sink.Group == "" && c.Sink.Topic != "" {
		c.Sink.Group = "pipechaos-s3sink-" + c.Sink.Topic
	}
	if c.Sink.Process == "" {
		c.Sink.Process = "s3sink"
	}
	c.MinWorkers = or(c.MinWorkers, 1)
	c.MaxWorkers = or(c.MaxWorkers, 5)
	c.Interval = or(c.Interval, time.Second)
	c.ThroughputWindow = or(c.ThroughputWindow, time.Second)
	c.StopTimeout = or(c.StopTimeout, or(c.Sink.RebalanceTimeout, 10*time.Second))
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Policy == nil {
		bad("no policy: set Policy (Throughput is the correct one)")
	}
	if v, ok := c.Policy.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(c.Sink.Brokers) == 0 {
		bad("no brokers: set Sink.Brokers to the region's bootstrap addresses")
	}
	if c.Sink.Topic == "" {
		bad("no topic: set Sink.Topic")
	}
	if c.Sink.Registerer != nil {
		bad("Sink.Registerer must be nil: every worker would register the same metrics there; set Registerer instead")
	}
	if c.MinWorkers < 1 || c.MaxWorkers < c.MinWorkers {
		bad("workers must satisfy 1 <= MinWorkers <= MaxWorkers (got %d and %d)", c.MinWorkers, c.MaxWorkers)
	}
	if c.Interval < 0 || c.ThroughputWindow < 0 || c.StopTimeout < 0 {
		bad("durations cannot be negative")
	}
	switch c.Rebalancing {
	case Cooperative, Eager, ServerSide:
	default:
		bad("unknown rebalancing %d: use Cooperative, Eager or ServerSide", int(c.Rebalancing))
	}
	return errors.Join(errs...)
}

// Pool runs the workers of one consumer group and scales them by its
// policy. Use New, then Run; Close releases everything.
type Pool struct {
	cfg   Config
	admCl *kgo.Client
	adm   *kadm.Client
	m     *metrics

	running   atomic.Bool
	closeOnce sync.Once
	failed    chan error // a worker's fatal error, first one

	mu    sync.Mutex
	live  []*worker // running, oldest first
	all   []*worker // every worker ever started: their counters stay in the sums
	next  int
	rates []rateSample // the run loop's consumption samples
}

type worker struct {
	name   string
	sink   *s3sink.Sink
	cancel context.CancelFunc
	done   chan struct{}
}

type rateSample struct {
	at       time.Time
	consumed float64
}

// New validates cfg and builds a pool. No worker runs until Run.
func New(cfg Config) (*Pool, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("autoscaler: invalid config:\n%w", err)
	}
	p := &Pool{cfg: cfg, failed: make(chan error, 1)}
	m, err := newMetrics(p, cfg.Sink.Group, cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("autoscaler: %w", err)
	}
	p.m = m
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Sink.Brokers...)}, cfg.Sink.KgoOpts...)
	if p.admCl, err = kgo.NewClient(opts...); err != nil {
		return nil, fmt.Errorf("autoscaler: create Kafka client: %w", err)
	}
	p.adm = kadm.NewClient(p.admCl)
	return p, nil
}

// Metrics is the pool's own registry.
func (p *Pool) Metrics() *prometheus.Registry { return p.m.reg }

// Handler serves the pool's metrics for /metrics.
func (p *Pool) Handler() http.Handler { return promhttp.HandlerFor(p.m.reg, promhttp.HandlerOpts{}) }

// Workers is the number of workers running.
func (p *Pool) Workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.live)
}

// Run starts MinWorkers workers and evaluates the policy every Interval
// until ctx is done (it returns nil) or a worker fails (it returns that
// error). On return every worker has written, committed and left the group.
// Run may be called once.
func (p *Pool) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("autoscaler: Run can only be called once")
	}
	defer p.stopAll()
	if err := p.Scale(ctx, p.cfg.MinWorkers); err != nil {
		return err
	}
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-p.failed:
			return err
		case <-t.C:
		}
		if err := p.evaluate(ctx); err != nil {
			return err
		}
	}
}

// evaluate measures the signals, asks the policy, and scales.
func (p *Pool) evaluate(ctx context.Context) error {
	now := time.Now()
	s := Signals{Lag: p.lag(ctx), Workers: p.Workers(), Throughput: p.throughput(now), Now: now,
		MinWorkers: p.cfg.MinWorkers, MaxWorkers: p.cfg.MaxWorkers}
	want := min(max(p.cfg.Policy.Desired(s), p.cfg.MinWorkers), p.cfg.MaxWorkers)
	p.m.evaluations.Inc()
	p.m.lag.Set(float64(s.Lag))
	p.m.throughput.Set(s.Throughput)
	p.m.desired.Set(float64(want))
	if want == s.Workers {
		return nil
	}
	p.note("autoscaler: %s: scaling %d -> %d workers", s, s.Workers, want)
	return p.Scale(ctx, want)
}

// Scale starts or stops workers until n run. A worker being stopped first
// writes and commits what it consumed (within StopTimeout), then leaves the
// group; the newest worker goes first.
func (p *Pool) Scale(ctx context.Context, n int) error {
	for {
		p.mu.Lock()
		have := len(p.live)
		p.mu.Unlock()
		switch {
		case have < n:
			if err := p.start(); err != nil {
				return err
			}
			p.m.scaleEvents.WithLabelValues("up").Inc()
		case have > n:
			p.mu.Lock()
			w := p.live[len(p.live)-1]
			p.live = p.live[:len(p.live)-1]
			p.mu.Unlock()
			p.stop(ctx, w)
			p.m.scaleEvents.WithLabelValues("down").Inc()
		default:
			p.m.workers.Set(float64(n))
			return nil
		}
		p.m.workers.Set(float64(p.Workers()))
	}
}

func (p *Pool) start() error {
	p.mu.Lock()
	p.next++
	cfg := p.cfg.Sink
	cfg.Process = fmt.Sprintf("%s-%d", p.cfg.Sink.Process, p.next)
	p.mu.Unlock()
	cfg.KgoOpts = append(p.cfg.Rebalancing.opts(), p.cfg.Sink.KgoOpts...)
	sink, err := s3sink.New(cfg)
	if err != nil {
		return fmt.Errorf("autoscaler: start worker %s: %w", cfg.Process, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{name: cfg.Process, sink: sink, cancel: cancel, done: make(chan struct{})}
	p.mu.Lock()
	p.live = append(p.live, w)
	p.all = append(p.all, w)
	p.mu.Unlock()
	go func() {
		defer close(w.done)
		if err := sink.Run(ctx); err != nil && ctx.Err() == nil {
			p.note("autoscaler: worker %s failed: %v", w.name, err)
			select {
			case p.failed <- fmt.Errorf("autoscaler: worker %s: %w", w.name, err):
			default:
			}
		}
	}()
	return nil
}

// stop hands a worker's partitions over cleanly: it writes and commits what
// it consumed, then stops and leaves the group. Whatever it could not
// commit in time is consumed again by the others.
func (p *Pool) stop(ctx context.Context, w *worker) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.StopTimeout)
	if err := w.sink.Flush(fctx); err != nil {
		p.note("autoscaler: worker %s could not write everything before leaving (the group consumes it again): %v", w.name, err)
	}
	cancel()
	w.cancel()
	<-w.done
	w.sink.Close()
}

// stopAll stops every live worker, all at once.
func (p *Pool) stopAll() {
	p.mu.Lock()
	ws := p.live
	p.live = nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stop(context.Background(), w)
		}()
	}
	wg.Wait()
	p.m.workers.Set(0)
}

// Close stops every worker still running and releases the pool's client.
// It is idempotent; call it after Run returned (or if Run never ran).
func (p *Pool) Close() {
	p.closeOnce.Do(func() {
		p.stopAll()
		p.admCl.Close()
	})
}

// Ready waits until a worker of the pool has been assigned partitions: the
// group is consuming.
func (p *Pool) Ready(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if _, rb := p.sinkTotals(); rb["assigned"] > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("autoscaler: wait for the group to be assigned: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// lag is the group's committed lag on the topic, the way an external
// autoscaler (KEDA's Kafka scaler) measures it; -1 if it cannot be measured.
func (p *Pool) lag(ctx context.Context) int64 {
	ctx, cancel := context.WithTimeout(ctx, min(max(p.cfg.Interval*5, 500*time.Millisecond), 2*time.Second))
	defer cancel()
	ends, err := p.adm.ListEndOffsets(ctx, p.cfg.Sink.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return -1
	}
	committed, err := p.adm.FetchOffsets(ctx, p.cfg.Sink.Group)
	if err != nil {
		return -1
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) {
		at := int64(0)
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.Err == nil && c.At > 0 {
			at = c.At
		}
		total += max(o.Offset-at, 0)
	})
	return total
}

// throughput is the records per second consumed over the window ending now.
func (p *Pool) throughput(now time.Time) float64 {
	consumed, _ := p.sinkTotals()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rates = append(p.rates, rateSample{now, consumed})
	for len(p.rates) > 2 && !p.rates[1].at.After(now.Add(-p.cfg.ThroughputWindow)) {
		p.rates = p.rates[1:]
	}
	first := p.rates[0]
	if d := now.Sub(first.at).Seconds(); d > 0 {
		return (consumed - first.consumed) / d
	}
	return 0
}

func (p *Pool) note(format string, args ...any) {
	p.cfg.Logf(format, args...)
}
