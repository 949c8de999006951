package s3sink

import (
	"bufio"
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pipechaos/pipechaos/harness/workload"
)

// The buggy variants of incidents 2, 4 and 7 work on a quiet day: with no
// fault, every record reaches the bucket exactly once. Their defects show
// only when their fault arrives (see scenarios/).

func TestCountOnlyHappyPath(t *testing.T) {
	r := newRig(t, 3)
	sid := r.register(workload.SchemaV1)
	r.produceRange(workload.SchemaV1, sid, 0, 600, 3)

	cfg := r.config()
	cfg.Group = "count-only"
	cfg.FlushBytes = 1 << 10 // the fixed sink would flush on this; count-only never does
	s := runVariant(r, NewCountOnly, cfg)
	drain(t, s)
	requireExactlyOnce(t, r.ids("topics/"), 0, 600)
	require.Zero(t, val(s.m.flushes.WithLabelValues(reasonBytes)), "the count-only variant ran, not the fixed sink")
}

// The count-only sink holds far more than the byte budget it was given:
// nothing but the record count (or the rotation) flushes.
func TestCountOnlyIgnoresTheByteBudget(t *testing.T) {
	r := newRig(t, 3)
	sid := r.register(workload.SchemaV1)
	r.produceRange(workload.SchemaV1, sid, 0, 900, 3)

	cfg := r.config()
	cfg.FlushSize = 10000
	cfg.FlushBytes = 4 << 10
	cfg.RotateInterval = time.Hour
	s := runVariant(r, NewCountOnly, cfg)
	eventually(t, "all 900 records buffered", func() bool { _, n := s.Buffered(); return n == 900 })
	b, _ := s.Buffered()
	require.Greater(t, b, 4*cfg.FlushBytes)
	require.Zero(t, val(s.m.flushes.WithLabelValues(reasonBytes)))
	drain(t, s)
	requireExactlyOnce(t, r.ids("topics/"), 0, 900)
}

func TestCachedWriterSchemaHappyPath(t *testing.T) {
	r := newRig(t, 3)
	sid := r.register(workload.SchemaV1)
	r.produceRange(workload.SchemaV1, sid, 0, 600, 3)

	cfg := r.config()
	cfg.Group = "cached"
	s := runVariant(r, NewCachedWriterSchema, cfg)
	drain(t, s)
	requireExactlyOnce(t, r.ids("topics/"), 0, 600)
}

// After a v1 record, the cached-schema sink decodes v2 records with v1:
// they go to the dead-letter objects, not to the data.
func TestCachedWriterSchemaDeadLettersTheNewVersion(t *testing.T) {
	r := newRig(t, 1)
	v1 := r.register(workload.SchemaV1)
	v2 := r.register(workload.SchemaV2)
	var ids []int64
	var vals [][]byte
	for id := int64(0); id < 40; id++ {
		schema, sid := workload.SchemaV1, v1
		if id >= 10 {
			schema, sid = workload.SchemaV2, v2
		}
		ids, vals = append(ids, id), append(vals, value(t, schema, sid, id))
	}
	r.produce(0, ids, vals)

	s := runVariant(r, NewCachedWriterSchema, r.config())
	drain(t, s)
	requireExactlyOnce(t, r.ids("topics/"), 0, 10)
	var dead int
	for _, k := range r.objects("dlq/") {
		sc := bufio.NewScanner(bytes.NewReader(r.get(k)))
		for sc.Scan() {
			dead++
		}
	}
	require.Equal(t, 30, dead)
	require.Equal(t, float64(30), val(s.m.decodeErrors.WithLabelValues("avro")))
}

func TestBlockingPollHappyPath(t *testing.T) {
	r := newRig(t, 3)
	sid := r.register(workload.SchemaV1)
	r.produceRange(workload.SchemaV1, sid, 0, 600, 3)

	s := runVariant(r, NewBlockingPoll, r.config())
	drain(t, s)
	requireExactlyOnce(t, r.ids("topics/"), 0, 600)
	require.Zero(t, s.Lag())
}

// Two blocking-poll members share a topic: with a fast store, rebalances
// complete and every record lands exactly once.
func TestBlockingPollTwoMembersHappyPath(t *testing.T) {
	r := newRig(t, 4)
	sid := r.register(workload.SchemaV1)
	r.produceRange(workload.SchemaV1, sid, 0, 400, 4)

	cfg := r.config()
	cfg.FlushSize = 1000
	s1 := runVariant(r, NewBlockingPoll, cfg)
	eventually(t, "sink-1 consumes", func() bool { return val(s1.m.consumed) > 0 })
	cfg.Process = "sink-2"
	s2 := runVariant(r, NewBlockingPoll, cfg)
	eventually(t, "a rebalance", func() bool { return val(s1.m.rebalances.WithLabelValues("revoked")) > 0 })
	r.produceRange(workload.SchemaV1, sid, 400, 800, 4)
	drainAll(t, s1, s2)
	requireExactlyOnce(t, r.ids("topics/"), 0, 800)
}

// runVariant runs the sink build makes until the test ends.
func runVariant(r *rig, build func(Config) (*Sink, error), cfg Config) *Sink {
	r.t.Helper()
	s, err := build(cfg)
	require.NoError(r.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		if err := s.Run(ctx); err != nil {
			r.t.Errorf("%s: Run: %v", cfg.Process, err)
		}
	}()
	r.t.Cleanup(func() {
		cancel()
		<-exited
		s.Close()
	})
	return s
}
