package headerfilter

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/embedded"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/workload"
)

// runPipeline produces 300 records with the header mix through the sink,
// with f in its chain and errors.tolerance=none, drains it, and returns the
// object keys written, after checking every record is in the bucket once.
func runPipeline(t *testing.T, f *Filter, mix workload.HeaderMix) []string {
	t.Helper()
	e, err := embedded.New(t, env.Config{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	region := e.Region(env.Primary)
	require.NoError(t, region.CreateTopic(ctx, "audit", 2))

	st := e.Store()
	sink, err := s3sink.New(s3sink.Config{
		Brokers: region.Bootstrap(), Topic: "audit", RegistryURL: e.Registry().URL(),
		S3Endpoint: st.Endpoint(), S3AccessKey: st.AccessKey(), S3SecretKey: st.SecretKey(), Bucket: st.Bucket(),
		FlushSize: 100, RotateInterval: 50 * time.Millisecond,
		Transforms: []s3sink.Transform{f}, ErrorTolerance: s3sink.ToleranceNone,
		KgoOpts: env.ClientOpts(region.Bootstrap()),
	})
	require.NoError(t, err)
	defer sink.Close()
	done := make(chan error, 1)
	go func() { done <- sink.Run(ctx) }()

	h := history.New()
	prod, err := region.Client()
	require.NoError(t, err)
	defer prod.Close()
	_, err = workload.Run(ctx, workload.Config{Topic: "audit", Records: 300, Headers: mix, Seed: 3, History: h,
		RegistryURL: e.Registry().URL(), Schemas: []workload.SchemaStep{{From: 1, Schema: workload.SchemaV1}},
		MaxInFlight: 64, Process: "producer"}, workload.KafkaProducer(prod, env.Primary))
	require.NoError(t, err)
	require.NoError(t, sink.Drain(ctx))
	cancel()
	require.NoError(t, <-done)

	cl, err := harness.StoreClient(st)
	require.NoError(t, err)
	var keys []string
	for o := range cl.ListObjectsIter(context.Background(), st.Bucket(), minio.ListObjectsOptions{Recursive: true}) {
		require.NoError(t, o.Err)
		keys = append(keys, o.Key)
	}
	c := checker.New(checker.LedgerFrom(h.Events()))
	require.NoError(t, checker.ReadStore(context.Background(), cl, st.Bucket(), "", c))
	res := c.Result()
	require.Equal(t, checker.Ok, res.Verdict, res.Err())
	require.Equal(t, 300, res.FoundUnique)
	return keys
}

// The filter in the sink's chain, with errors.tolerance=none: every record
// is written under one of the two routes, every bad header is counted, and
// the sink never stops.
func TestFilterInTheSinkChainRoutesEveryRecord(t *testing.T) {
	f, err := New(Config{})
	require.NoError(t, err)
	keys := runPipeline(t, f, workload.HeaderMix{Absent: 0.05, Null: 0.05, Malformed: 0.05})
	routes := map[string]int{}
	for _, k := range keys {
		routes[strings.SplitN(k, "/", 2)[0]]++
	}
	require.Len(t, routes, 2, "objects under %v", routes)
	require.Positive(t, routes["site=us"])
	require.Positive(t, routes["site=intl"])
	ex := f.Exceptions()
	require.Positive(t, ex[ReasonAbsent])
	require.Positive(t, ex[ReasonNull])
	require.Positive(t, ex[ReasonMalformed])
}

// The buggy filter's happy path: with every header valid it routes like the
// fixed one, and nothing is lost.
func TestBuggyFilterInTheSinkChainWithValidHeaders(t *testing.T) {
	f, err := NewBuggy(Config{})
	require.NoError(t, err)
	keys := runPipeline(t, f, workload.HeaderMix{})
	for _, k := range keys {
		require.True(t, strings.HasPrefix(k, "site=us/") || strings.HasPrefix(k, "site=intl/"), k)
	}
}
