package workload

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/pipechaos/pipechaos/harness/history"
)

var testNow = time.Unix(1700000000, 0)

// fakeProducer acks every record except those fail says no to.
type fakeProducer struct {
	mu   sync.Mutex
	seen []*kgo.Record
	fail func(id uint64) error
}

func (p *fakeProducer) Produce(_ context.Context, r *kgo.Record, done func(Ack, error)) {
	p.mu.Lock()
	p.seen = append(p.seen, r)
	off := int64(len(p.seen) - 1)
	p.mu.Unlock()
	id, _ := RecordID(r)
	var err error
	if p.fail != nil {
		err = p.fail(id)
	}
	go done(Ack{Region: "primary", Offset: off}, err)
}

func (p *fakeProducer) Flush(context.Context) error { return nil }

func TestRunRecordsEveryOutcome(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	h := history.New()
	p := &fakeProducer{fail: func(id uint64) error {
		if id%10 == 0 {
			return errors.New("connection reset")
		}
		return nil
	}}
	st, err := Run(context.Background(), Config{Topic: "t", Records: 100, RegistryURL: reg.URL(), History: h}, p)
	require.NoError(t, err)
	require.Equal(t, int64(100), st.Attempted)
	require.Equal(t, int64(90), st.Acked)
	require.Equal(t, int64(10), st.Indeterminate)
	require.Equal(t, 90, h.Count(history.Produce, history.Acked))
	require.Equal(t, 10, h.Count(history.Produce, history.Indeterminate))
	require.Len(t, p.seen, 100)
}

func TestRunSurfacesASchemaRejection(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	h := history.New()
	p := &fakeProducer{}
	cfg := Config{Topic: "t", Records: 20, RegistryURL: reg.URL(), History: h,
		Schemas: []SchemaStep{{From: 1, Schema: SchemaV1}, {From: 11, Schema: `{"type": "not a schema"`}}}
	st, err := Run(context.Background(), cfg, p)
	require.NoError(t, err)
	require.Equal(t, int64(10), st.Acked)
	require.Equal(t, int64(10), st.Failed, "records of a rejected schema step fail; none is sent")
	require.Len(t, p.seen, 10)
}

func TestRunStopsWhenCancelled(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	h := history.New()
	ctx, cancel := context.WithCancel(context.Background())
	p := &fakeProducer{}
	cfg := Config{Topic: "t", Records: 1000000, Rate: 1000, RegistryURL: reg.URL(), History: h,
		Progress: func(acked int64) { cancel() }, ProgressEvery: 50}
	st, err := Run(ctx, cfg, p)
	require.NoError(t, err)
	require.Less(t, st.Attempted, int64(1000000))
	require.Equal(t, int(st.Attempted), h.Count(history.Produce, ""), "every attempt has an outcome in the history")
}
