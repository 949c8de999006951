package scenarios

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/sut"
)

// sinkBuilder makes the sink under test of a scenario for one region,
// topic and consumer group.
type sinkBuilder func(r *harness.Run, region, topic, group string) (connectors.Sink, error)

// sinkConfig is the s3sink configuration every scenario starts from: the
// environment's addresses, the run's history, and scaled-down timings.
func sinkConfig(r *harness.Run, region, topic, group string) s3sink.Config {
	return addressConfig(addressesOf(r, region, topic, group), group, uint64(r.Seed))
}

// addressConfig is sinkConfig from addresses alone: what a sink process
// of the catalogue builds (it has no run, no history).
func addressConfig(a connectors.Addresses, process string, seed uint64) s3sink.Config {
	return s3sink.Config{
		Brokers: a.Brokers, Topic: a.Topic, Group: a.Group, RegistryURL: a.RegistryURL,
		S3Endpoint: a.S3Endpoint, S3AccessKey: a.S3AccessKey, S3SecretKey: a.S3SecretKey, Bucket: a.Bucket,
		FlushSize: 500, RotateInterval: 250 * time.Millisecond,
		SessionTimeout: 3 * time.Second, RebalanceTimeout: 3 * time.Second,
		Seed: seed, Process: process,
		KgoOpts: env.ClientOpts(a.Brokers),
	}
}

// addressesOf is what a sink of the run gets: the region's brokers, the
// topic and group, the registry, the store.
func addressesOf(r *harness.Run, region, topic, group string) connectors.Addresses {
	st := r.Env.Store()
	return connectors.Addresses{
		Brokers: r.Env.Region(region).Bootstrap(), Topic: topic, Group: group,
		RegistryURL: r.Env.Registry().URL(),
		S3Endpoint:  st.Endpoint(), S3AccessKey: st.AccessKey(), S3SecretKey: st.SecretKey(), Bucket: st.Bucket(),
	}
}

// ourSink builds connectors/s3sink with sinkConfig, adjusted by tune, through
// build (s3sink.New or a buggy constructor) — unless the run proves a
// user's sink (SinkConformance, pipechaos run --sink-cmd): then it builds
// that one, as a process, in the same place.
func ourSink(build func(s3sink.Config) (*s3sink.Sink, error), tune func(*s3sink.Config)) sinkBuilder {
	return func(r *harness.Run, region, topic, group string) (connectors.Sink, error) {
		if u := userOf(r); u != nil {
			return u.sink(r, region, topic, group)
		}
		cfg := sinkConfig(r, region, topic, group)
		if tune != nil {
			tune(&cfg)
		}
		return build(cfg)
	}
}

// runningSink is a sink consuming in the background.
type runningSink struct {
	connectors.Sink
	Group  string
	Region string
	done   chan error
	err    error
	waited bool
}

// userJoinTimeout bounds how long a user's sink may take to join its
// group.
const userJoinTimeout = 2 * time.Minute

// startSink builds the sink and runs it until stop.
//
// A user's sink that is its group's first member is waited for until the
// coordinator lists it in the group: it may take its time to start (a
// Kafka Connect worker's JVM takes tens of seconds), and a scenario that
// produced before would take a sink still starting for a stalled one. A
// later member joins a live group unwaited: the scenario wants the
// rebalance it causes while it happens.
func startSink(ctx context.Context, r *harness.Run, region, topic, group string, build sinkBuilder) (*runningSink, error) {
	var admin *kgo.Client
	if userOf(r) != nil {
		cl, err := r.Env.Region(region).Client()
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		if !groupHasMembers(ctx, cl, group) {
			admin = cl
		}
	}
	s, err := build(r, region, topic, group)
	if err != nil {
		return nil, err
	}
	rs := &runningSink{Sink: s, Group: group, Region: region, done: make(chan error, 1)}
	go func() { rs.done <- s.Run(ctx) }()
	if admin != nil {
		if !groupStable(ctx, admin, group, r.ScaledTimeout(userJoinTimeout)) {
			rs.stop()
			return nil, fmt.Errorf("the user's sink never joined group %s within %s", group, r.ScaledTimeout(userJoinTimeout))
		}
		r.Logf("the user's sink joined group %s", group)
	}
	return rs, nil
}

// stop closes the sink and returns what its Run returned. Idempotent.
func (rs *runningSink) stop() error {
	if !rs.waited {
		rs.Close()
		rs.err = <-rs.done
		rs.waited = true
	}
	return rs.err
}

// metrics is the sink's Prometheus registry, if it exposes one.
func (rs *runningSink) metrics() prometheus.Gatherer {
	switch m := rs.Sink.(type) {
	case interface{ Metrics() *prometheus.Registry }:
		return m.Metrics()
	case prometheus.Gatherer:
		return m
	}
	return prometheus.NewRegistry()
}

// supervise runs the sink build makes the way Kafka Connect's task restart
// or a Kubernetes restart policy does: when the running instance dies (its
// Run fails, or the scenario kills it), a new instance joins the same group
// and resumes from the group's committed offsets. The result is itself a
// sink, so startSink, drainAndCheck and sinkProbe take it.
func supervise(build sinkBuilder) sinkBuilder {
	return func(r *harness.Run, region, topic, group string) (connectors.Sink, error) {
		sv := &supervised{r: r, build: func() (connectors.Sink, error) { return build(r, region, topic, group) }}
		first, err := sv.build() // a bad config fails the run at once
		if err != nil {
			return nil, err
		}
		sv.all = []connectors.Sink{first}
		return sv, nil
	}
}

// supervised is a sink under a restart policy; see supervise.
type supervised struct {
	r     *harness.Run
	build func() (connectors.Sink, error)

	mu     sync.Mutex
	all    []connectors.Sink // every instance, the running one last
	closed bool
	killed bool
}

func (sv *supervised) current() connectors.Sink {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.all[len(sv.all)-1]
}

// Instances is how many instances have been started.
func (sv *supervised) Instances() int {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return len(sv.all)
}

// Run runs instances until ctx is done, Close is called, or an instance
// returns without having died.
func (sv *supervised) Run(ctx context.Context) error {
	for {
		s := sv.current()
		err := s.Run(ctx)
		s.Close()
		sv.mu.Lock()
		killed := sv.killed
		sv.killed = false
		if sv.closed {
			sv.mu.Unlock()
			return nil
		}
		if ctx.Err() != nil || (err == nil && !killed) {
			sv.mu.Unlock()
			return err
		}
		sv.mu.Unlock()
		why := "was killed"
		if err != nil && !killed {
			why = "died: " + err.Error()
		}
		next, berr := sv.build()
		if berr != nil {
			return berr
		}
		sv.mu.Lock()
		if sv.closed {
			sv.mu.Unlock()
			next.Close()
			return nil
		}
		sv.all = append(sv.all, next)
		n := len(sv.all)
		sv.mu.Unlock()
		sv.r.Logf("supervisor: the sink %s; instance %d starts in the same group and resumes from its committed offsets", why, n)
	}
}

// Close stops the running instance for good.
func (sv *supervised) Close() { sv.stopCurrent(&sv.closed) }

// kill stops the running instance abruptly, without a last flush or
// commit: what it wrote but had not committed stays so. A sink process
// gets SIGKILL; an in-process sink is closed. The supervisor starts the
// next instance.
func (sv *supervised) kill() {
	sv.mu.Lock()
	sv.killed = true
	s := sv.all[len(sv.all)-1]
	sv.mu.Unlock()
	if k, ok := s.(interface{ Kill() error }); ok {
		_ = k.Kill()
		return
	}
	s.Close()
}

// currentProcess is the running instance's process, nil for an
// in-process sink.
func (sv *supervised) currentProcess() *sut.Process {
	if ps, ok := sv.current().(*sut.Sink); ok {
		return ps.Process()
	}
	return nil
}

// stopCurrent sets why (closed or killed) and closes the running instance.
func (sv *supervised) stopCurrent(why *bool) {
	sv.mu.Lock()
	*why = true
	s := sv.all[len(sv.all)-1]
	sv.mu.Unlock()
	s.Close()
}

// Gather gathers the running instance's metrics (for sinkProbe).
func (sv *supervised) Gather() ([]*dto.MetricFamily, error) {
	if g, ok := sv.current().(interface{ Metrics() *prometheus.Registry }); ok {
		return g.Metrics().Gather()
	}
	return nil, nil
}

// total sums a counter over every instance, counting the series whose
// labels include the given label=value pairs (none: all series).
func (sv *supervised) total(name string, labels ...string) float64 {
	sv.mu.Lock()
	all := append([]connectors.Sink(nil), sv.all...)
	sv.mu.Unlock()
	var sum float64
	for _, s := range all {
		if g, ok := s.(interface{ Metrics() *prometheus.Registry }); ok {
			sum += counterSum(g.Metrics(), name, labels...)
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			found = found || (l.GetName() == kv[i] && l.GetValue() == kv[i+1])
		}
		if !found {
			return false
		}
	}
	return true
}

// writesSince is the sink writes recorded after the latest start of the
// named fault (none if it has not started).
func writesSince(h *history.History, fault string) []history.Event {
	var since time.Time
	for _, e := range h.Filter(history.Fault) {
		if e.Fault == fault && e.Phase == history.Start {
			since = e.At
		}
	}
	if since.IsZero() {
		return nil
	}
	var out []history.Event
	for _, e := range h.Filter(history.SinkWrite) {
		if e.At.After(since) {
			out = append(out, e)
		}
	}
	return out
}

// objectRecords reads every object under prefix in the run's bucket and
// counts the records each holds, by key. The store's request log says when
// an object was written and how big it was; what it holds is read from the
// bucket, like everything the checker judges.
func objectRecords(ctx context.Context, r *harness.Run, prefix string) (map[string]int, error) {
	cl, err := harness.StoreClient(r.Env.Store())
	if err != nil {
		return nil, err
	}
	bucket := r.Env.Store().Bucket()
	n := map[string]int{}
	for info := range cl.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if info.Err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, info.Err)
		}
		obj, err := cl.GetObject(ctx, bucket, info.Key, minio.GetObjectOptions{})
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", info.Key, err)
		}
		err = checker.DecodeObject(info.Key, obj, func(checker.Found) { n[info.Key]++ })
		obj.Close()
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", info.Key, err)
		}
	}
	return n, nil
}

// withRecords is ev with each observed sink write's Records filled in from
// counts (objectRecords); writes of objects not in counts keep 0.
func withRecords(ev []history.Event, counts map[string]int) []history.Event {
	out := slices.Clone(ev)
	for i := range out {
		if out[i].Type == history.SinkWrite {
			out[i].Records = counts[out[i].Object]
		}
	}
	return out
}

// groupStable waits until group is Stable with at least one member, as
// the coordinator describes it: a classic group (DescribeGroups) or one of
// KIP-848's consumer protocol (ConsumerGroupDescribe).
func groupStable(ctx context.Context, cl *kgo.Client, group string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout) // also bounds each describe
	defer cancel()
	adm := kadm.NewClient(cl)
	return pollUntil(ctx, timeout, 50*time.Millisecond, func() bool {
		state, members := describeGroup(ctx, adm, group)
		return state == "Stable" && members > 0
	})
}

// groupHasMembers says whether the coordinator lists any member in group.
func groupHasMembers(ctx context.Context, cl *kgo.Client, group string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, members := describeGroup(ctx, kadm.NewClient(cl), group)
	return members > 0
}

// describeGroup is group's state and member count as the coordinator
// tells them, by either group protocol ("", 0 if neither knows it).
func describeGroup(ctx context.Context, adm *kadm.Client, group string) (string, int) {
	gs, err := adm.DescribeGroups(ctx, group)
	if g, ok := gs[group]; err == nil && ok && g.Err == nil && len(g.Members) > 0 {
		return g.State, len(g.Members)
	}
	cgs, err := adm.DescribeConsumerGroups(ctx, group)
	if g, ok := cgs[group]; err == nil && ok && g.Err == nil {
		return g.State, len(g.Members)
	}
	return "", 0
}
