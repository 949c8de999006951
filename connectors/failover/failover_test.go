package failover

import (
	"context"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/embedded"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/workload"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const topic = "orders"

// rig is two one-broker regions with topic created in both.
type rig struct {
	t   testing.TB
	env *embedded.Environment
}

func newRig(t testing.TB) *rig {
	t.Helper()
	cfg, err := env.NewConfig(env.Backend(env.Embedded), env.BrokersPerRegion(1))
	require.NoError(t, err)
	e, err := embedded.New(t, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, r := range []string{env.Primary, env.Secondary} {
		require.NoError(t, e.Region(r).CreateTopic(ctx, topic, 3))
	}
	return &rig{t: t, env: e}
}

func (r *rig) config() Config {
	return Config{
		Primary:   r.env.Region(env.Primary).Bootstrap(),
		Secondary: r.env.Region(env.Secondary).Bootstrap(),
		KgoOpts:   env.ClientOpts(nil),
		Logf:      r.t.Logf,
	}
}

// result is the outcome of one record.
type result struct {
	id  uint64
	ack workload.Ack
	err error
}

// produce sends records with IDs from..to-1 and waits for every outcome.
func produce(t testing.TB, p *Producer, from, to uint64) []result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var (
		mu  sync.Mutex
		out []result
	)
	for id := from; id < to; id++ {
		rec := &kgo.Record{
			Topic:   topic,
			Key:     []byte("k" + strconv.FormatUint(id%7, 10)),
			Value:   []byte("v"),
			Headers: []kgo.RecordHeader{{Key: workload.IDHeader, Value: []byte(strconv.FormatUint(id, 10))}},
		}
		p.Produce(ctx, rec, func(a workload.Ack, err error) {
			mu.Lock()
			defer mu.Unlock()
			out = append(out, result{id: id, ack: a, err: err})
		})
	}
	require.NoError(t, p.Flush(ctx))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, out, int(to-from), "done must be called exactly once per record")
	return out
}

// ids reads topic in region from the start and counts the copies of each ID.
func (r *rig) ids(region string) map[uint64]int {
	r.t.Helper()
	cl, err := r.env.Region(region).Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(r.t, err)
	defer cl.Close()
	out := map[uint64]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
			if id, ok := workload.RecordID(rec); ok {
				out[id]++
			}
		})
	}
	return out
}

func stop(t testing.TB, e env.Environment, regions ...string) {
	t.Helper()
	for _, r := range regions {
		require.NoError(t, e.Region(r).Stop(context.Background()))
	}
}

func TestConfigValidateNamesEveryProblem(t *testing.T) {
	_, err := New(Config{DeliveryTimeout: -time.Second, RecordRetries: -1, PrimaryName: "x", SecondaryName: "x"})
	require.Error(t, err)
	for _, want := range []string{"no primary brokers", "no secondary brokers", "both regions are named", "delivery timeout must be at least 1s", "record retries cannot be negative"} {
		require.Contains(t, err.Error(), want)
	}
}

// With both regions healthy, every record lands in the primary, for the
// fixed producer and the buggy one alike: the defect hides until a fault.
func TestHappyPathLandsInPrimary(t *testing.T) {
	for name, build := range map[string]func(Config) (*Producer, error){"fixed": New, "buggy": NewBuggy} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			p, err := build(r.config())
			require.NoError(t, err)
			defer p.Close()

			for _, res := range produce(t, p, 1, 101) {
				require.NoError(t, res.err, "record %d", res.id)
				require.Equal(t, env.Primary, res.ack.Region)
				require.GreaterOrEqual(t, res.ack.Offset, int64(0))
			}
			got := r.ids(env.Primary)
			require.Len(t, got, 100)
			require.Empty(t, r.ids(env.Secondary))
		})
	}
}

// With the primary down, every record is acknowledged by the secondary, and
// the secondary really holds it.
func TestFailoverWhenPrimaryIsDown(t *testing.T) {
	r := newRig(t)
	p, err := New(r.config())
	require.NoError(t, err)
	defer p.Close()
	produce(t, p, 1, 11) // warm both clients' metadata on a healthy primary

	stop(t, r.env, env.Primary)
	start := time.Now()
	for _, res := range produce(t, p, 11, 41) {
		require.NoError(t, res.err, "record %d", res.id)
		require.Equal(t, env.Secondary, res.ack.Region, "record %d", res.id)
	}
	t.Logf("30 records failed over in %s", time.Since(start).Round(time.Millisecond))
	held := r.ids(env.Secondary)
	for id := uint64(11); id < 41; id++ {
		require.Equal(t, 1, held[id], "record %d acked by the secondary must be there once", id)
	}
	require.Equal(t, 30.0, counter(t, p, "pipechaos_failover_produce_acks_total", `region="secondary"`))
	require.Equal(t, 30.0, counter(t, p, "pipechaos_failover_failovers_total", ""))
}

// With both regions down, every record is an error to the caller, never an
// ack.
func TestBothRegionsDownIsAnError(t *testing.T) {
	r := newRig(t)
	p, err := New(r.config())
	require.NoError(t, err)
	defer p.Close()
	produce(t, p, 1, 11)

	stop(t, r.env, env.Primary, env.Secondary)
	for _, res := range produce(t, p, 11, 21) {
		require.ErrorIs(t, res.err, ErrBothRegions, "record %d", res.id)
		require.NotEqual(t, history.Acked, workload.Classify(res.err))
	}
	require.Equal(t, 10.0, counter(t, p, "pipechaos_failover_errors_total", ""))
}

// The buggy producer, with the primary down, tells the caller every record
// was delivered although the secondary never saw it: incident 5.
func TestBuggyAcksWhatNoRegionHolds(t *testing.T) {
	r := newRig(t)
	p, err := NewBuggy(r.config())
	require.NoError(t, err)
	defer p.Close()
	produce(t, p, 1, 11)

	stop(t, r.env, env.Primary)
	acked := 0
	for _, res := range produce(t, p, 11, 31) {
		if res.err == nil {
			acked++
		}
	}
	require.Equal(t, 20, acked, "the buggy handler reports success")
	require.Empty(t, r.ids(env.Secondary), "yet the secondary holds nothing")
	require.Equal(t, 0.0, counter(t, p, "pipechaos_failover_produce_attempts_total", `region="secondary"`))
}

func TestMetricsEndpoint(t *testing.T) {
	r := newRig(t)
	p, err := New(r.config())
	require.NoError(t, err)
	defer p.Close()
	produce(t, p, 1, 8)

	rec := httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`pipechaos_failover_produce_attempts_total{process="failover",region="primary"} 7`,
		`pipechaos_failover_produce_acks_total{process="failover",region="primary"} 7`,
		`pipechaos_failover_produce_failures_total{process="failover",region="secondary"} 0`,
		`pipechaos_failover_failovers_total{primary_outcome="indeterminate",process="failover"} 0`,
		`pipechaos_failover_errors_total{process="failover"} 0`,
		`pipechaos_failover_possible_duplicates_total{process="failover"} 0`,
	} {
		require.Contains(t, string(body), want)
	}
}

// counter sums the samples of a metric whose labels contain match.
func counter(t testing.TB, p *Producer, name, match string) float64 {
	t.Helper()
	mfs, err := p.Metrics().Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			if strings.Contains(strings.Join(labels, ","), match) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// A primary that writes records but whose answers are lost: the producer
// gives up on the primary with an unknown outcome, the secondary
// acknowledges, and the record ends up in both regions. Every such record
// must be counted as a possible duplicate.
func TestLostPrimaryAnswersAreCountedAsPossibleDuplicates(t *testing.T) {
	r := newRig(t)
	p, err := New(r.config())
	require.NoError(t, err)
	defer p.Close()
	produce(t, p, 1, 11)

	// The primary holds every produce request for 1.5s before writing it,
	// and its connections are cut while they wait: the records get written,
	// the answers never arrive.
	primary := r.env.Region(env.Primary)
	slower, ok := primary.(env.RequestSlower)
	require.True(t, ok, "the embedded region can delay requests")
	heal, err := slower.SlowRequests(0, 1500*time.Millisecond) // key 0: Produce
	require.NoError(t, err)
	cut := time.AfterFunc(300*time.Millisecond, func() { _ = primary.Isolate(context.Background(), 0) })
	results := produce(t, p, 11, 21)
	cut.Stop()
	require.NoError(t, primary.Reconnect(context.Background(), 0))
	heal()

	for _, res := range results {
		require.NoError(t, res.err, "record %d", res.id)
	}
	counted := counter(t, p, "pipechaos_failover_possible_duplicates_total", "")
	inPrimary, inSecondary := r.ids(env.Primary), r.ids(env.Secondary)
	both := 0
	for _, res := range results {
		if res.ack.Region == env.Secondary {
			require.Equal(t, 1, inSecondary[res.id], "record %d acked by the secondary must be there", res.id)
		}
		if inPrimary[res.id] > 0 && inSecondary[res.id] > 0 {
			both++
		}
	}
	t.Logf("%d of 10 records are in both regions; the producer counted %g possible duplicates", both, counted)
	require.Positive(t, both, "the lost answers should have left records in both regions")
	require.LessOrEqual(t, float64(both), counted, "every record in both regions must be counted")
}
