package s3sink

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pipechaos/pipechaos/harness/workload"
)

// Each buggy variant works on a quiet day: every record reaches the bucket
// exactly once and the group commits to the end. Its defect needs a fault.
func TestBuggyVariantsHappyPath(t *testing.T) {
	for name, build := range map[string]func(Config) (*Sink, error){
		"commit-before-write": NewCommitBeforeWrite,
		"timestamp-names":     NewTimestampNames,
		"uncached-schemas":    NewUncachedSchemas,
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, 3)
			sid := r.register(workload.SchemaV1)
			const n = 600
			r.produceRange(workload.SchemaV1, sid, 0, n, 3)

			s, err := build(r.config())
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			drain(t, s)
			cancel()
			require.NoError(t, <-done)
			s.Close()

			requireExactlyOnce(t, r.ids("topics/"), 0, n)
			require.Empty(t, r.objects("dlq/"))
			for p, off := range r.committed("sink") {
				require.Equal(t, int64(n/3), off, "partition %d", p)
			}
		})
	}
}

func TestTimestampNamesAreUniquePerWrite(t *testing.T) {
	a := timestampKey("", "t", 3, 42)
	require.Regexp(t, `^topics/t/partition=3/t\+3\+0000000042-\d+\.avro$`, a)
	require.True(t, strings.HasPrefix(timestampKey("US", "t", 3, 42), "US/topics/t/partition=3/"))
	time.Sleep(time.Microsecond) // two writes of the same chunk, at two instants
	require.NotEqual(t, a, timestampKey("", "t", 3, 42))
}

// The defect of NewTimestampNames in isolation: consuming the same offsets
// again (here another group) adds a second copy of every record, where the
// correct sink overwrites (TestRerunOverwritesInsteadOfDuplicating).
func TestTimestampNamesDuplicateOnRerun(t *testing.T) {
	r := newRig(t, 2)
	sid := r.register(workload.SchemaV1)
	r.produceRange(workload.SchemaV1, sid, 0, 200, 2)
	cfg := r.config()
	for _, group := range []string{"first", "rerun"} {
		cfg.Group, cfg.Process = group, group
		s, err := NewTimestampNames(cfg)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		drain(t, s)
		cancel()
		require.NoError(t, <-done)
		s.Close()
	}
	for id, n := range r.ids("topics/") {
		require.Equal(t, 2, n, "record %d", id)
	}
}

// The defect of NewCommitBeforeWrite in isolation: a store that refuses
// every write makes the run fail, as the correct sink's does — but the
// group's offset was already committed past records no object holds.
func TestCommitBeforeWriteCommitsPastAFailedWrite(t *testing.T) {
	r := newRig(t, 1)
	sid := r.register(workload.SchemaV1)
	r.produceRange(workload.SchemaV1, sid, 0, 50, 1)
	r.fault.always.Store(true)
	cfg := r.config()
	cfg.MaxRetries = 2
	s, err := NewCommitBeforeWrite(cfg)
	require.NoError(t, err)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = s.Run(ctx)
	require.ErrorContains(t, err, "giving up after 2 retries")
	require.Equal(t, int64(50), r.committed("sink")[0], "the offset after the unwritten records is committed")
	require.Empty(t, r.objects("topics/"))
}

// The defect of NewUncachedSchemas in isolation: with the registry failing,
// healthy records whose schema the sink read a moment before go to the
// dead-letter object, and their offsets are committed.
func TestUncachedSchemasDeadLetterDuringRegistryOutage(t *testing.T) {
	r := newRig(t, 1)
	sid := r.register(workload.SchemaV1)
	r.produceRange(workload.SchemaV1, sid, 0, 50, 1)
	s, err := NewUncachedSchemas(r.config())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done; s.Close() }()
	drain(t, s)
	requireExactlyOnce(t, r.ids("topics/"), 0, 50)

	r.reg.Intercept(func(w http.ResponseWriter, _ *http.Request) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	r.produceRange(workload.SchemaV1, sid, 50, 100, 1)
	drain(t, s)
	requireExactlyOnce(t, r.ids("topics/"), 0, 50)
	require.Len(t, r.objects("dlq/"), 1)
	require.Equal(t, float64(50), val(s.m.deadLetters))
}
