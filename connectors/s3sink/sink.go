package s3sink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors/internal/s3store"
)

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("s3sink: sink is closed")

// Sink consumes one topic as a consumer-group member and writes it to an S3
// bucket. Use New, then Run; Flush and Drain wait for the output; Close
// releases everything.
type Sink struct {
	cfg     Config
	cl      *kgo.Client
	adm     *kadm.Client
	store   *minio.Client
	schemas *schemas
	retry   *retrier
	m       *metrics
	hooks   hooks

	transports []*http.Transport // closed idle on Close

	ctx    context.Context // the sink's lifetime; parent of every partition's
	cancel context.CancelFunc

	wg        sync.WaitGroup // writer goroutines
	wake      chan struct{}  // a write finished
	draining  atomic.Int32   // Flush and Drain calls in progress
	running   atomic.Bool
	closeOnce sync.Once

	mu           sync.Mutex
	parts        map[int32]*partition
	buffered     int64 // bytes pending or in flight, all partitions
	bufferedRecs int
	stopped      bool
	err          error // the first fatal error
	runCancel    context.CancelFunc
	// progress is closed, and replaced, whenever a flight ends, a partition
	// is released or the sink fails: Flush and Drain look again at once
	// instead of at their next tick.
	progress chan struct{}
}

// hooks are the seams where behaviour could differ from the correct sink;
// New installs the correct ones. Each is one small decision: how objects
// are named, how a writer schema is found, how a chunk is made durable, and
// when the poll loop must wait for writes.
type hooks struct {
	objectKey  func(route, topic string, p int32, start int64) string
	codec      func(ctx context.Context, id int) (*codec, error)
	persist    func(ps *partition, seg *segment, ch chunk) error
	overBudget func() bool // called with s.mu held
	// polled, if set, runs in the poll loop after a poll's records were
	// buffered and before a rebalance is allowed to proceed.
	polled func()
}

// New validates cfg and builds a sink. Nothing is consumed until Run.
func New(cfg Config) (*Sink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("s3sink: invalid config:\n%w", err)
	}
	m, err := newMetrics(cfg.Process, cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("s3sink: %w", err)
	}
	s := &Sink{cfg: cfg, m: m, retry: newRetrier(cfg), wake: make(chan struct{}, 1), parts: map[int32]*partition{}, progress: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.hooks = hooks{
		objectKey:  objectKey,
		codec:      nil, // set below, needs s.schemas
		persist:    s.writeThenCommit,
		overBudget: s.overBudgetLocked,
	}
	m.retryBudget.Set(float64(cfg.RetryBudget))

	regTr := newTransport()
	s.transports = append(s.transports, regTr)
	if s.schemas, err = newSchemas(cfg.RegistryURL, &http.Client{Transport: regTr, Timeout: 10 * time.Second}); err != nil {
		return nil, fmt.Errorf("s3sink: %w", err)
	}
	s.hooks.codec = s.schemas.codec

	storeTr := newTransport()
	s.transports = append(s.transports, storeTr)
	if s.store, err = newStore(cfg, storeTr); err != nil {
		return nil, fmt.Errorf("s3sink: %w", err)
	}

	fetchMax := int32(min(max(cfg.FlushBytes/2, 1<<20), 50<<20))
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.RebalanceTimeout(cfg.RebalanceTimeout),
		kgo.HeartbeatInterval(max(cfg.SessionTimeout/6, 100*time.Millisecond)),
		kgo.FetchMaxWait(min(max(cfg.RotateInterval/2, 50*time.Millisecond), time.Second)),
		kgo.FetchMaxBytes(fetchMax),
		// Kafka's own default per partition (max.partition.fetch.bytes):
		// one big partition cannot fill a whole fetch and starve the others
		// while the byte budget holds polling back.
		kgo.FetchMaxPartitionBytes(min(fetchMax, 1<<20)),
	}
	opts = append(opts, cfg.KgoOpts...)
	if s.cl, err = kgo.NewClient(opts...); err != nil {
		s.closeTransports()
		return nil, fmt.Errorf("s3sink: create Kafka client: %w", err)
	}
	s.adm = kadm.NewClient(s.cl)
	return s, nil
}

func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
}

// newStore builds the S3 client. Path-style bucket addressing and a fixed
// region keep it talking only to the endpoint it was given; minio-go's own
// retries are off so every retry goes through the sink's policy and budget.
func newStore(cfg Config, tr *http.Transport) (*minio.Client, error) {
	return s3store.Client(cfg.S3Endpoint, cfg.S3AccessKey, cfg.S3SecretKey, tr, 1)
}

func (s *Sink) closeTransports() {
	for _, t := range s.transports {
		t.CloseIdleConnections()
	}
}

// tick is how often the poll loop looks at the clock (rotation, Drain).
func (s *Sink) tick() time.Duration {
	return min(max(s.cfg.RotateInterval/4, 10*time.Millisecond), 250*time.Millisecond)
}

// Run consumes until ctx is done (returning nil) or a fatal error: a write
// that exhausted its retries or the run's retry budget, a store that refuses
// the credentials or the bucket. Nothing is committed that was not written.
// Run may be called once.
func (s *Sink) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("s3sink: Run can only be called once")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return ErrClosed
	}
	s.runCancel = cancel
	s.mu.Unlock()
	defer s.stop()

	tick := s.tick()
	for {
		s.mu.Lock()
		s.rotateLocked(time.Now())
		err, over := s.err, s.hooks.overBudget()
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if over {
			// Backpressure: the byte budget is spent by writes in flight.
			// The group is not blocked (no records are held un-allowed),
			// so a slow store cannot get this member kicked out.
			select {
			case <-s.wake:
			case <-ctx.Done():
			case <-time.After(tick):
			}
			continue
		}
		pctx, pcancel := context.WithTimeout(ctx, tick)
		fetches := s.cl.PollRecords(pctx, s.cfg.FlushSize)
		pcancel()
		s.process(fetches)
		if s.hooks.polled != nil {
			s.hooks.polled()
		}
		s.cl.AllowRebalance()
		if fetches.IsClientClosed() {
			s.mu.Lock()
			err := s.err
			s.mu.Unlock()
			if err == nil && ctx.Err() == nil {
				return ErrClosed
			}
		}
	}
}

// process buffers the records of one poll.
func (s *Sink) process(fetches kgo.Fetches) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	fetches.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		s.cfg.Logf("s3sink %s: fetch %s/%d: %v", s.cfg.Process, t, p, err)
	})
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if fp.Topic != s.cfg.Topic || fp.Partition < 0 {
			return
		}
		ps := s.parts[fp.Partition]
		if ps == nil {
			if len(fp.Records) > 0 {
				s.cfg.Logf("s3sink %s: %d records of unassigned partition %d ignored", s.cfg.Process, len(fp.Records), fp.Partition)
			}
			return
		}
		for _, r := range fp.Records {
			s.addLocked(ps, r, now)
		}
		if fp.HighWatermark >= 0 && (len(fp.Records) > 0 || fp.Err == nil) {
			ps.hwm = fp.HighWatermark
		}
		s.setLagLocked(ps)
	})
	s.m.bufferedBytes.Set(float64(s.buffered))
	s.m.bufferedRecs.Set(float64(s.bufferedRecs))
}

func (s *Sink) setLagLocked(ps *partition) {
	s.m.lag.WithLabelValues(strconv.Itoa(int(ps.p))).Set(float64(ps.lag()))
}

// progressedLocked wakes Flush and Drain.
func (s *Sink) progressedLocked() {
	close(s.progress)
	s.progress = make(chan struct{})
}

// notify wakes a poll loop waiting for writes.
func (s *Sink) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Sink) failed() bool { return s.err != nil }

// failLocked records the first fatal error and stops Run.
func (s *Sink) failLocked(err error) {
	if s.err != nil {
		return
	}
	s.err = fmt.Errorf("s3sink %s: %w", s.cfg.Process, err)
	s.progressedLocked()
	s.cfg.Logf("%v", s.err)
	if s.runCancel != nil {
		s.runCancel()
	}
}

// stop ends every write: pending and in-flight records stay uncommitted and
// will be consumed again.
func (s *Sink) stop() {
	s.mu.Lock()
	s.stopped = true
	for _, ps := range s.parts {
		ps.cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Close stops Run if it is running, abandons uncommitted buffers, leaves the
// group and releases the clients. It is idempotent.
func (s *Sink) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		if s.runCancel != nil {
			s.runCancel()
		}
		s.mu.Unlock()
		s.stop()
		s.cl.CloseAllowingRebalance()
		s.cancel()
		s.closeTransports()
	})
}

// Err is the fatal error that stopped (or will stop) Run, if any.
func (s *Sink) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// onAssigned starts the state of newly assigned partitions.
func (s *Sink) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	ps := assigned[s.cfg.Topic]
	if len(ps) == 0 {
		return
	}
	s.m.rebalances.WithLabelValues("assigned").Inc()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		if s.parts[p] == nil {
			s.parts[p] = newPartition(s.ctx, p)
		}
	}
	s.cfg.Logf("s3sink %s: assigned partitions %v", s.cfg.Process, ps)
}

// onRevoked writes and commits what the revoked partitions buffered before
// they are given up.
func (s *Sink) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if ps := revoked[s.cfg.Topic]; len(ps) > 0 {
		s.m.rebalances.WithLabelValues("revoked").Inc()
		s.cfg.Logf("s3sink %s: revoking partitions %v", s.cfg.Process, ps)
		s.release(ps, true)
	}
}

// onLost drops the lost partitions' buffers: another member may already
// own them, and it will consume them again from the committed offsets.
func (s *Sink) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	if ps := lost[s.cfg.Topic]; len(ps) > 0 {
		s.m.rebalances.WithLabelValues("lost").Inc()
		s.cfg.Logf("s3sink %s: lost partitions %v", s.cfg.Process, ps)
		s.release(ps, false)
	}
}

// release gives partitions up. With flush, their buffers are written and
// committed first, within three quarters of the rebalance timeout; past
// that (or without flush), writes are canceled and buffers dropped. Either
// way no write of a released partition is still running when it returns,
// so a later owner's object can never be overwritten by a late write.
func (s *Sink) release(ps []int32, flush bool) {
	deadline := time.NewTimer(s.cfg.RebalanceTimeout * 3 / 4)
	defer deadline.Stop()
	expired := false

	s.mu.Lock()
	var list []*partition
	for _, p := range ps {
		st := s.parts[p]
		if st == nil {
			continue
		}
		list = append(list, st)
		if flush {
			s.flushLocked(st, reasonRevoke)
		} else {
			st.cancel()
		}
	}
	s.mu.Unlock()

	for _, st := range list {
		for {
			s.mu.Lock()
			if expired {
				st.cancel()
			}
			fl := st.inflight
			if fl == nil {
				s.dropLocked(st) // nothing left unless the flush could not start
				st.cancel()
				delete(s.parts, st.p)
				s.m.lag.DeleteLabelValues(strconv.Itoa(int(st.p)))
				s.m.bufferedBytes.Set(float64(s.buffered))
				s.m.bufferedRecs.Set(float64(s.bufferedRecs))
				s.progressedLocked()
				s.mu.Unlock()
				break
			}
			s.mu.Unlock()
			select {
			case <-fl.done:
			case <-deadline.C:
				expired = true
				s.cfg.Logf("s3sink %s: partition %d: revoke flush past its deadline, abandoning it", s.cfg.Process, st.p)
			}
		}
	}
	s.notify()
}

// Lag is the sum over assigned partitions of the high watermark of the last
// fetch minus the committed offset: records not yet durably in the bucket.
func (s *Sink) Lag() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, ps := range s.parts {
		n += ps.lag()
	}
	return n
}

// Buffered is the bytes and records held in buffers, in flight included.
func (s *Sink) Buffered() (bytes int64, records int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buffered, s.bufferedRecs
}

// Flush waits until every record consumed so far is written and committed
// (or its partition was given up: another member consumes it again). It
// asks the poll loop to flush every buffer now, so Run must be running.
func (s *Sink) Flush(ctx context.Context) error {
	s.draining.Add(1)
	defer s.draining.Add(-1)
	s.mu.Lock()
	want := map[*partition]int64{}
	for _, ps := range s.parts {
		if ps.last >= 0 {
			want[ps] = ps.last + 1
		}
	}
	s.mu.Unlock()
	return s.waitFor(ctx, func(bool) (bool, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for ps, next := range want {
			if s.parts[ps.p] == ps && ps.committed < next {
				return false, nil
			}
		}
		return true, nil
	})
}

// Drain waits until the group's committed offsets reach the end of every
// partition of the topic, as the brokers report them: everything produced
// before the call (and since) is written and committed. It asks the poll loop
// to flush every buffer now, so Run must be running (in this sink or another
// member of its group).
func (s *Sink) Drain(ctx context.Context) error {
	s.draining.Add(1)
	defer s.draining.Add(-1)
	return s.waitFor(ctx, func(tick bool) (bool, error) {
		if b, _ := s.Buffered(); b > 0 {
			return false, nil
		}
		if !tick && s.Lag() > 0 {
			// Woken by a write: records this member fetched are not
			// committed yet, so the brokers would say no. The ticks
			// still ask them whatever this member thinks.
			return false, nil
		}
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		ends, err := s.adm.ListEndOffsets(qctx, s.cfg.Topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return false, nil // brokers unreachable: keep waiting
		}
		committed, err := s.adm.FetchOffsets(qctx, s.cfg.Group)
		if err == nil {
			err = committed.Error()
		}
		if err != nil {
			return false, nil
		}
		done := true
		ends.Each(func(lo kadm.ListedOffset) {
			if lo.Offset <= 0 {
				return
			}
			c, ok := committed.Lookup(lo.Topic, lo.Partition)
			if !ok || c.At < lo.Offset {
				done = false
			}
		})
		return done, nil
	})
}

// waitFor polls cond until it holds, the sink fails, or ctx is done: at
// every tick (tick true) and whenever the sink progressed (tick false).
func (s *Sink) waitFor(ctx context.Context, cond func(tick bool) (bool, error)) error {
	t := time.NewTicker(s.tick())
	defer t.Stop()
	tick := true
	for {
		s.mu.Lock()
		progress := s.progress
		s.mu.Unlock()
		if err := s.Err(); err != nil {
			return err
		}
		ok, err := cond(tick)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("s3sink %s: wait for the output: %w", s.cfg.Process, ctx.Err())
		case <-t.C:
			tick = true
		case <-progress:
			tick = false
		}
	}
}
