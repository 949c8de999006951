package s3sink

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/linkedin/goavro/v2"
	"github.com/minio/minio-go/v7"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/pipechaos/pipechaos/harness/workload"
)

// rig is a minimal environment for unit tests: one kfake cluster, an srfake
// registry and a gofakes3 store behind a switchable 503 fault.
type rig struct {
	t      testing.TB
	topic  string
	kafka  *kfake.Cluster
	reg    *srfake.Registry
	s3     *httptest.Server
	fault  *storeFault
	bucket string
	prod   *kgo.Client
	store  *minio.Client
	tr     *http.Transport
}

// storeFault answers PUTs with 503 SlowDown while failPuts > 0 (counting
// down) or while always is set.
type storeFault struct {
	next     http.Handler
	failPuts atomic.Int64
	always   atomic.Bool
	faulted  atomic.Int64
	// multipart counts requests that are part of a multipart upload.
	multipart atomic.Int64
}

func (f *storeFault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("uploadId") {
		f.multipart.Add(1)
	}
	if r.Method == http.MethodPut && (f.always.Load() || f.failPuts.Add(-1) >= 0) {
		f.faulted.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
		return
	}
	f.next.ServeHTTP(w, r)
}

func newRig(t testing.TB, partitions int32) *rig {
	t.Helper()
	r := &rig{t: t, topic: "events", bucket: "pipechaos"}
	var err error
	r.kafka, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, r.topic))
	require.NoError(t, err)
	t.Cleanup(r.kafka.Close)

	r.reg = srfake.New()
	t.Cleanup(r.reg.Close)

	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket(r.bucket))
	r.fault = &storeFault{next: gofakes3.New(backend).Server()}
	r.s3 = httptest.NewServer(r.fault)
	t.Cleanup(r.s3.Close)
	r.fault.failPuts.Store(0)

	r.tr = newTransport()
	t.Cleanup(r.tr.CloseIdleConnections)
	r.store, err = newStore(Config{S3Endpoint: r.s3.Listener.Addr().String(), S3AccessKey: "k", S3SecretKey: "s"}, r.tr)
	require.NoError(t, err)

	r.prod, err = kgo.NewClient(kgo.SeedBrokers(r.kafka.ListenAddrs()...), kgo.DefaultProduceTopic(r.topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	t.Cleanup(r.prod.Close)
	return r
}

// config is a sink config for the rig, with fast test settings.
func (r *rig) config() Config {
	return Config{
		Brokers:        r.kafka.ListenAddrs(),
		Topic:          r.topic,
		Group:          "sink",
		RegistryURL:    r.reg.URL(),
		S3Endpoint:     r.s3.Listener.Addr().String(),
		S3AccessKey:    "k",
		S3SecretKey:    "s",
		Bucket:         r.bucket,
		FlushSize:      100,
		RotateInterval: 100 * time.Millisecond,
		RetryBackoff:   5 * time.Millisecond,
		Logf:           r.t.Logf,
		KgoOpts: []kgo.Opt{
			kgo.MetadataMinAge(100 * time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		},
	}
}

// register registers schema under the topic's subject and returns its id.
func (r *rig) register(schema string) int {
	r.t.Helper()
	id, _, err := r.reg.RegisterSchema(r.topic+workload.SubjectSuffix, sr.Schema{Schema: schema})
	require.NoError(r.t, err)
	return id
}

// value is the wire-format value of record id under schema id sid.
func value(t testing.TB, schema string, sid int, id int64) []byte {
	t.Helper()
	c, err := goavro.NewCodec(schema)
	require.NoError(t, err)
	native := map[string]any{"id": id, "key": fmt.Sprintf("k%d", id%7), "produced_at_us": int64(0), "payload": []byte("p")}
	if strings.Contains(schema, "tenant") {
		native["tenant"] = goavro.Union("string", "t")
	}
	b := make([]byte, 5, 64)
	binary.BigEndian.PutUint32(b[1:], uint32(sid))
	b, err = c.BinaryFromNative(b, native)
	require.NoError(t, err)
	return b
}

// produce writes records with the given values to partition p, synchronously.
func (r *rig) produce(p int32, ids []int64, vals [][]byte, headers ...kgo.RecordHeader) {
	r.t.Helper()
	var rs []*kgo.Record
	for i, v := range vals {
		hs := append([]kgo.RecordHeader{{Key: workload.IDHeader, Value: fmt.Appendf(nil, "%d", ids[i])}}, headers...)
		rs = append(rs, &kgo.Record{Partition: p, Key: fmt.Appendf(nil, "k%d", ids[i]), Value: v, Headers: hs})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(r.t, r.prod.ProduceSync(ctx, rs...).FirstErr())
}

// produceRange writes ids [from, to) round-robin over partitions.
func (r *rig) produceRange(schema string, sid int, from, to int64, partitions int32) {
	r.t.Helper()
	byP := map[int32][]int64{}
	for id := from; id < to; id++ {
		p := int32(id % int64(partitions))
		byP[p] = append(byP[p], id)
	}
	for p, ids := range byP {
		vals := make([][]byte, len(ids))
		for i, id := range ids {
			vals[i] = value(r.t, schema, sid, id)
		}
		r.produce(p, ids, vals)
	}
}

// start runs a sink in the background; the test's cleanup stops it and
// checks that Run returned what want says.
func (r *rig) start(cfg Config) (*Sink, <-chan error) {
	r.t.Helper()
	s, err := New(cfg)
	require.NoError(r.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done, exited := make(chan error, 1), make(chan struct{})
	go func() { done <- s.Run(ctx); close(exited) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-exited
			s.Close()
		})
	}
	r.t.Cleanup(stop)
	return s, done
}

// drain waits for s to write and commit everything.
func drain(t testing.TB, s *Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, s.Drain(ctx))
}

// drainAll drains several members of one group at once: each one's Drain
// waits for the whole group, and flushes only its own buffers.
func drainAll(t testing.TB, sinks ...*Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errs := make(chan error, len(sinks))
	for _, s := range sinks {
		go func() { errs <- s.Drain(ctx) }()
	}
	for range sinks {
		require.NoError(t, <-errs)
	}
}

// objects lists every key in the bucket with the given prefix.
func (r *rig) objects(prefix string) []string {
	r.t.Helper()
	var keys []string
	for o := range r.store.ListObjects(context.Background(), r.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		require.NoError(r.t, o.Err)
		keys = append(keys, o.Key)
	}
	sort.Strings(keys)
	return keys
}

func (r *rig) get(key string) []byte {
	r.t.Helper()
	o, err := r.store.GetObject(context.Background(), r.bucket, key, minio.GetObjectOptions{})
	require.NoError(r.t, err)
	defer o.Close()
	b, err := io.ReadAll(o)
	require.NoError(r.t, err)
	return b
}

// ids reads every Avro object under prefix and counts each record id.
func (r *rig) ids(prefix string) map[int64]int {
	r.t.Helper()
	seen := map[int64]int{}
	for _, k := range r.objects(prefix) {
		if !strings.HasSuffix(k, ".avro") {
			continue
		}
		ocf, err := goavro.NewOCFReader(bytes.NewReader(r.get(k)))
		require.NoError(r.t, err, k)
		for ocf.Scan() {
			v, err := ocf.Read()
			require.NoError(r.t, err, k)
			seen[v.(map[string]any)["id"].(int64)]++
		}
		require.NoError(r.t, ocf.Err(), k)
	}
	return seen
}

// requireExactlyOnce checks ids [from, to) each appear exactly once.
func requireExactlyOnce(t testing.TB, seen map[int64]int, from, to int64) {
	t.Helper()
	var lost, dup []int64
	for id := from; id < to; id++ {
		switch n := seen[id]; {
		case n == 0:
			lost = append(lost, id)
		case n > 1:
			dup = append(dup, id)
		}
	}
	require.Empty(t, lost, "lost ids")
	require.Empty(t, dup, "duplicated ids")
	require.Len(t, seen, int(to-from), "unexpected ids")
}

// committed is the group's committed offset per partition.
func (r *rig) committed(group string) map[int32]int64 {
	r.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.kafka.ListenAddrs()...))
	require.NoError(r.t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	os, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	require.NoError(r.t, err)
	out := map[int32]int64{}
	os.Each(func(o kadm.OffsetResponse) { out[o.Partition] = o.At })
	return out
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// val is the value of a counter or gauge (one series).
func val(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1)
	go func() { c.Collect(ch); close(ch) }()
	var sum float64
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			panic(err)
		}
		sum += d.GetCounter().GetValue() + d.GetGauge().GetValue()
	}
	return sum
}
