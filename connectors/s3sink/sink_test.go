package s3sink

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/harness/workload"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConfigValidateNamesEveryProblem(t *testing.T) {
	_, err := New(Config{FlushSize: -1, RetryBackoff: time.Second, RetryBackoffMax: time.Millisecond})
	require.Error(t, err)
	for _, want := range []string{"no brokers", "no topic", "no schema registry", "no object store", "no bucket",
		"flush size cannot be negative", "retry backoff max"} {
		require.Contains(t, err.Error(), want)
	}
}

func TestObjectKeysAreDeterministic(t *testing.T) {
	require.Equal(t, "topics/t/partition=3/t+3+42.avro", objectKey("", "t", 3, 42))
	require.Equal(t, "US/topics/t/partition=3/t+3+42.avro", objectKey("US", "t", 3, 42))
	require.Equal(t, "dlq/topics/t/partition=3/t+3+42.json", deadLetterKey("t", 3, 42))
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	r := newRetrier(Config{RetryBackoff: 10 * time.Millisecond, RetryBackoffMax: 80 * time.Millisecond, Seed: 7, RetryBudget: 2})
	for attempt, want := range []time.Duration{10, 20, 40, 80, 80} {
		d := r.backoff(attempt)
		require.GreaterOrEqual(t, d, want*time.Millisecond/2)
		require.LessOrEqual(t, d, want*time.Millisecond)
	}
	require.True(t, r.take())
	require.True(t, r.take())
	require.False(t, r.take())
}

// Every record produced reaches the bucket exactly once, offsets are
// committed to the end, and the history and metrics account for it.
func TestSinkWritesEveryRecordOnce(t *testing.T) {
	r := newRig(t, 3)
	sid := r.register(workload.SchemaV1)
	const n = 1000
	r.produceRange(workload.SchemaV1, sid, 0, n, 3)

	cfg := r.config()
	cfg.Process = "sink-0"
	s, _ := r.start(cfg)
	drain(t, s)

	requireExactlyOnce(t, r.ids("topics/"), 0, n)
	require.Equal(t, float64(n), val(s.m.written))
	require.Equal(t, float64(n), val(s.m.consumed))
	require.Zero(t, s.Lag())
	for p, off := range r.committed("sink") {
		require.Positive(t, off, "partition %d", p)
	}
	for _, k := range r.objects("topics/") {
		require.Regexp(t, `^topics/events/partition=\d/events\+\d\+\d+\.avro$`, k)
	}
}

// A rerun of the same offsets (another group, so everything is consumed
// again) writes objects with the same names: nothing is duplicated.
func TestRerunOverwritesInsteadOfDuplicating(t *testing.T) {
	r := newRig(t, 2)
	sid := r.register(workload.SchemaV1)
	r.produceRange(workload.SchemaV1, sid, 0, 500, 2)

	cfg := r.config()
	cfg.RotateInterval = time.Hour // size-based objects only: identical boundaries
	// A drain flushes whatever is pending: start it only once every record
	// is buffered, or the boundaries depend on how far the fetches got.
	consumedAll := func(s *Sink) {
		require.Eventually(t, func() bool { return val(s.m.consumed) == 500 }, 30*time.Second, 5*time.Millisecond)
	}
	s, _ := r.start(cfg)
	consumedAll(s)
	drain(t, s)
	first := r.objects("topics/")

	cfg.Group = "rerun"
	cfg.Process = "rerun"
	s2, _ := r.start(cfg)
	consumedAll(s2)
	drain(t, s2)
	require.Equal(t, first, r.objects("topics/"))
	requireExactlyOnce(t, r.ids("topics/"), 0, 500)
}

// Bad records go to the dead-letter object with their raw bytes and the
// error; the good ones around them are written; nothing stops.
func TestUndecodableRecordsGoToDeadLetters(t *testing.T) {
	r := newRig(t, 1)
	sid := r.register(workload.SchemaV1)
	good := func(id int64) []byte { return value(t, workload.SchemaV1, sid, id) }
	truncated := good(3)[:7]
	unknown := value(t, workload.SchemaV1, 999, 4)
	r.produce(0, []int64{0, 1, 2, 3, 4, 5}, [][]byte{good(0), []byte("not avro"), good(2), truncated, unknown, good(5)})

	cfg := r.config()
	s, _ := r.start(cfg)
	drain(t, s)

	seen := r.ids("topics/")
	require.Equal(t, map[int64]int{0: 1, 2: 1, 5: 1}, seen)
	var letters []deadLetter
	for _, k := range r.objects("dlq/") {
		require.Regexp(t, `^dlq/topics/events/partition=0/events\+0\+\d+\.json$`, k)
		sc := bufio.NewScanner(bytes.NewReader(r.get(k)))
		for sc.Scan() {
			var dl deadLetter
			require.NoError(t, json.Unmarshal(sc.Bytes(), &dl))
			letters = append(letters, dl)
		}
	}
	require.Len(t, letters, 3)
	byOffset := map[int64]deadLetter{}
	for _, dl := range letters {
		byOffset[dl.Offset] = dl
	}
	require.Equal(t, []byte("not avro"), byOffset[1].Value)
	require.Equal(t, "wire", byOffset[1].Reason)
	require.Equal(t, truncated, byOffset[3].Value)
	require.Equal(t, "avro", byOffset[3].Reason)
	require.Equal(t, unknown, byOffset[4].Value)
	require.Equal(t, "schema", byOffset[4].Reason)
	require.Equal(t, float64(1), val(s.m.decodeErrors.WithLabelValues("wire")))
	require.Equal(t, float64(1), val(s.m.decodeErrors.WithLabelValues("avro")))
	require.Equal(t, float64(1), val(s.m.decodeErrors.WithLabelValues("schema")))
	require.Equal(t, int64(6), r.committed("sink")[0])
}

// A schema change within a partition starts a new object, written with the
// new writer schema.
func TestSchemaChangeRotatesTheObject(t *testing.T) {
	r := newRig(t, 1)
	v1 := r.register(workload.SchemaV1)
	v2 := r.register(workload.SchemaV2)
	var ids []int64
	var vals [][]byte
	for id := int64(0); id < 30; id++ {
		schema, sid := workload.SchemaV1, v1
		if id >= 10 && id < 20 {
			schema, sid = workload.SchemaV2, v2
		}
		ids, vals = append(ids, id), append(vals, value(t, schema, sid, id))
	}
	r.produce(0, ids, vals)

	cfg := r.config()
	cfg.RotateInterval = time.Hour
	s, _ := r.start(cfg)
	drain(t, s)

	require.Equal(t, []string{
		"topics/events/partition=0/events+0+0.avro",
		"topics/events/partition=0/events+0+10.avro",
		"topics/events/partition=0/events+0+20.avro",
	}, r.objects("topics/"))
	require.Contains(t, string(r.get("topics/events/partition=0/events+0+10.avro")), `"tenant"`)
	requireExactlyOnce(t, r.ids("topics/"), 0, 30)
	require.Equal(t, float64(2), val(s.m.flushes.WithLabelValues(reasonSchema)))
}

// Transforms route records to prefixes, drop them (committed, not written),
// or fail on them (dead letter, never a stop).
func TestTransformsRouteDropAndFail(t *testing.T) {
	r := newRig(t, 1)
	sid := r.register(workload.SchemaV1)
	site := func(v string) kgo.RecordHeader { return kgo.RecordHeader{Key: workload.SiteHeader, Value: []byte(v)} }
	r.produce(0, []int64{0, 1}, [][]byte{value(t, workload.SchemaV1, sid, 0), value(t, workload.SchemaV1, sid, 1)}, site("US"))
	r.produce(0, []int64{2}, [][]byte{value(t, workload.SchemaV1, sid, 2)}, site("EU"))
	r.produce(0, []int64{3}, [][]byte{value(t, workload.SchemaV1, sid, 3)}, site("DROP"))
	r.produce(0, []int64{4}, [][]byte{value(t, workload.SchemaV1, sid, 4)}, site("BOOM"))
	r.produce(0, []int64{5}, [][]byte{value(t, workload.SchemaV1, sid, 5)}, site("US"))

	cfg := r.config()
	cfg.RotateInterval = time.Hour
	cfg.Transforms = []Transform{TransformFunc(func(rec *kgo.Record) (Routed, error) {
		for _, h := range rec.Headers {
			if h.Key == workload.SiteHeader {
				switch v := string(h.Value); v {
				case "DROP":
					return Routed{Drop: true}, nil
				case "BOOM":
					return Routed{}, errors.New("boom")
				default:
					return Routed{Route: "site=" + v}, nil
				}
			}
		}
		return Routed{}, nil
	})}
	s, _ := r.start(cfg)
	drain(t, s)

	require.Equal(t, map[int64]int{0: 1, 1: 1, 5: 1}, r.ids("site=US/"))
	require.Equal(t, map[int64]int{2: 1}, r.ids("site=EU/"))
	require.Len(t, r.objects("dlq/"), 1)
	require.Equal(t, float64(1), val(s.m.filtered))
	require.Equal(t, float64(1), val(s.m.transformErrs))
	require.Equal(t, int64(6), r.committed("sink")[0])
}

// A burst of 503 SlowDown from the store is retried; nothing is lost and
// nothing is committed before it is written.
func TestStoreErrorBurstIsRetried(t *testing.T) {
	r := newRig(t, 2)
	sid := r.register(workload.SchemaV1)
	r.fault.failPuts.Store(8)
	r.produceRange(workload.SchemaV1, sid, 0, 400, 2)

	cfg := r.config()
	s, _ := r.start(cfg)
	drain(t, s)

	requireExactlyOnce(t, r.ids("topics/"), 0, 400)
	require.Equal(t, int64(8), r.fault.faulted.Load())
	require.Equal(t, float64(8), val(s.m.retries.WithLabelValues("put")))
}

// When the retry budget is spent, Run fails loudly and commits nothing it
// could not write.
func TestRetryBudgetExhaustedFailsRun(t *testing.T) {
	r := newRig(t, 1)
	sid := r.register(workload.SchemaV1)
	r.fault.always.Store(true)
	r.produceRange(workload.SchemaV1, sid, 0, 50, 1)

	cfg := r.config()
	cfg.RetryBudget = 3
	_, done := r.start(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, errBudget)
		require.Contains(t, err.Error(), "SlowDown")
	case <-ctx.Done():
		t.Fatal("Run did not fail with the store refusing every write")
	}
	require.Empty(t, r.committed("sink"))
}

// The byte budget bounds what is buffered across partitions: the largest
// buffer is flushed when a record would exceed it.
func TestByteBudgetFlushesLargestBuffer(t *testing.T) {
	r := newRig(t, 3)
	sid := r.register(workload.SchemaV1)
	r.produceRange(workload.SchemaV1, sid, 0, 900, 3)

	cfg := r.config()
	cfg.FlushSize = 10000
	cfg.FlushBytes = 4 << 10
	cfg.RotateInterval = time.Hour
	s, _ := r.start(cfg)
	drain(t, s)

	requireExactlyOnce(t, r.ids("topics/"), 0, 900)
	require.Positive(t, val(s.m.flushes.WithLabelValues(reasonBytes)))
	b, n := s.Buffered()
	require.Zero(t, b)
	require.Zero(t, n)
}

// Two members share the work; the first flushes and commits what it holds
// for the partitions it gives up. Every record lands exactly once.
func TestRebalanceFlushesRevokedPartitions(t *testing.T) {
	r := newRig(t, 4)
	sid := r.register(workload.SchemaV1)
	r.produceRange(workload.SchemaV1, sid, 0, 400, 4)

	cfg := r.config()
	cfg.RotateInterval = time.Hour // only size, revoke and drain flushes
	cfg.FlushSize = 1000
	s1, _ := r.start(cfg)
	eventually(t, "sink-1 buffers records", func() bool { _, n := s1.Buffered(); return n > 0 })

	cfg.Process = "sink-2"
	s2, _ := r.start(cfg)
	eventually(t, "a rebalance", func() bool {
		return val(s1.m.rebalances.WithLabelValues("revoked")) > 0
	})
	r.produceRange(workload.SchemaV1, sid, 400, 800, 4)
	drainAll(t, s1, s2)

	requireExactlyOnce(t, r.ids("topics/"), 0, 800)
	require.Positive(t, val(s1.m.flushes.WithLabelValues(reasonRevoke)))
}

// gofakes3 trap: an object above the multipart threshold goes up in parts;
// with content SHA256 disabled every part arrives intact.
func TestMultipartObjectRoundTripsThroughGofakes3(t *testing.T) {
	r := newRig(t, 1)
	data := make([]byte, 17<<20) // > minio-go's 16 MiB single-PUT limit
	_, err := rand.Read(data)
	require.NoError(t, err)

	s, err := New(r.config())
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.put(context.Background(), "big.bin", data, "application/octet-stream"))

	got := r.get("big.bin")
	require.Equal(t, len(data), len(got))
	require.True(t, bytes.Equal(data, got), "object read back differs from what was written")
	require.Positive(t, r.fault.multipart.Load(), "the upload should have been multipart")
}
