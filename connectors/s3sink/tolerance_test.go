package s3sink

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/harness/workload"
)

// boom fails on records whose site header says so: "ERR" returns an error,
// "PANIC" dereferences a nil pointer, like incident 1's filter.
var boom = TransformFunc(func(rec *kgo.Record) (Routed, error) {
	for _, h := range rec.Headers {
		if h.Key == workload.SiteHeader {
			switch string(h.Value) {
			case "ERR":
				return Routed{}, errors.New("cannot route")
			case "PANIC":
				var p *string
				return Routed{Route: *p}, nil
			}
		}
	}
	return Routed{}, nil
})

// With ErrorTolerance "none", a transform that fails or panics fails the
// sink: Run returns the error, and nothing at or after the record is
// written or committed, though the records before it were.
func TestErrorToleranceNoneFailsTheSink(t *testing.T) {
	for _, bad := range []string{"ERR", "PANIC"} {
		t.Run(bad, func(t *testing.T) {
			r := newRig(t, 1)
			sid := r.register(workload.SchemaV1)
			r.produceRange(workload.SchemaV1, sid, 0, 10, 1)
			cfg := r.config()
			cfg.Transforms = []Transform{boom}
			cfg.ErrorTolerance = ToleranceNone
			s, err := New(cfg)
			require.NoError(t, err)
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			require.NoError(t, s.Drain(ctx))

			site := kgo.RecordHeader{Key: workload.SiteHeader, Value: []byte(bad)}
			r.produce(0, []int64{10}, [][]byte{value(t, workload.SchemaV1, sid, 10)}, site)
			r.produceRange(workload.SchemaV1, sid, 11, 20, 1)
			select {
			case err = <-done:
			case <-ctx.Done():
				t.Fatal("Run did not return after the transform failed")
			}
			require.ErrorContains(t, err, "events/0@10")
			require.ErrorContains(t, err, "errors.tolerance=none")
			if bad == "PANIC" {
				require.ErrorContains(t, err, "panicked: runtime error: invalid memory address or nil pointer dereference")
			}
			require.Equal(t, err, s.Err())
			require.Equal(t, int64(10), r.committed("sink")[0], "nothing committed at or after the bad record")
			requireExactlyOnce(t, r.ids("topics/"), 0, 10)
			require.Empty(t, r.objects("dlq/"))
			require.Equal(t, float64(1), val(s.m.transformErrs))
		})
	}
}

// With the default tolerance "all", a panicking transform is recovered: the
// record goes to the dead-letter object and the sink goes on.
func TestPanickingTransformIsDeadLetteredByDefault(t *testing.T) {
	r := newRig(t, 1)
	sid := r.register(workload.SchemaV1)
	r.produceRange(workload.SchemaV1, sid, 0, 5, 1)
	r.produce(0, []int64{5}, [][]byte{value(t, workload.SchemaV1, sid, 5)}, kgo.RecordHeader{Key: workload.SiteHeader, Value: []byte("PANIC")})
	r.produceRange(workload.SchemaV1, sid, 6, 10, 1)
	cfg := r.config()
	cfg.Transforms = []Transform{boom}
	s, _ := r.start(cfg)
	drain(t, s)
	seen := r.ids("topics/")
	delete(seen, 5)
	require.Len(t, seen, 9)
	require.Len(t, r.objects("dlq/"), 1)
	require.Contains(t, string(r.get(r.objects("dlq/")[0])), "panicked")
	require.Equal(t, float64(1), val(s.m.transformErrs))
	require.NoError(t, s.Err())
}

func TestErrorToleranceMustBeAllOrNone(t *testing.T) {
	cfg := Config{Brokers: []string{"b:9092"}, Topic: "t", RegistryURL: "http://r", S3Endpoint: "s:9000", Bucket: "b", ErrorTolerance: "some"}
	_, err := New(cfg)
	require.ErrorContains(t, err, `error tolerance "some" is not "all" or "none"`)
}
