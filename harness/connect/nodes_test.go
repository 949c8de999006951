package connect_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/pipechaos/pipechaos/harness/connect"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/nodes"
)

// TestWorkerOnNodes runs the worker against the nodes backend's primary
// region (three real brokers, RF 3, min ISR 2, each in a network namespace
// of its own) and its MinIO: the worker's own topics take the cluster's
// replication factor, and the router pair in front of the S3 sink behaves
// as on one broker (fixed: every record once under its route; buggy: the
// task FAILED per the REST API, acked records not in the bucket). It runs
// with PIPECHAOS_BACKEND=nodes (as the nodes backend's scenarios do).
func TestWorkerOnNodes(t *testing.T) {
	if os.Getenv("PIPECHAOS_BACKEND") != env.Nodes {
		t.Skip("runs with PIPECHAOS_BACKEND=nodes")
	}
	if why := connect.Available(); why != "" {
		t.Skip(why)
	}
	nodes.RequireAvailable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	plugins, err := connect.Plugins(ctx)
	require.NoError(t, err)
	cfg, err := env.NewConfig(env.Backend(env.Nodes), env.Logf(t.Logf))
	require.NoError(t, err)
	e, err := nodes.New(t, cfg)
	require.NoError(t, err)
	region := e.Region(env.Primary)
	cl, err := region.Client()
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	want := produceSites(ctx, t, cl, adm, "audit", 4, 400)

	w, err := connect.Start(ctx, connect.Config{Bootstrap: strings.Join(region.Bootstrap(), ","), Group: "connect-nodes",
		PluginPath: []string{plugins}, Root: t.TempDir(), Logf: t.Logf})
	t.Cleanup(func() { w.Close() })
	require.NoError(t, err)
	md, err := adm.Metadata(ctx, "connect-nodes-configs", "connect-nodes-offsets", "connect-nodes-status")
	require.NoError(t, err)
	for _, topic := range []string{"connect-nodes-configs", "connect-nodes-offsets", "connect-nodes-status"} {
		for _, p := range md.Topics[topic].Partitions {
			require.Len(t, p.Replicas, 3, "%s/%d: the worker's topic is not replicated three times", topic, p.Partition)
		}
	}

	st := e.Store()
	mc, err := minio.New(st.Endpoint(), &minio.Options{Creds: credentials.NewStaticV4(st.AccessKey(), st.SecretKey(), "")})
	require.NoError(t, err)
	store := &testMinIO{Endpoint: st.Endpoint(), AccessKey: st.AccessKey(), SecretKey: st.SecretKey(), Bucket: st.Bucket(), Client: mc}
	buggy := *store
	buggy.Bucket = st.Bucket() + "-buggy"
	require.NoError(t, mc.MakeBucket(ctx, buggy.Bucket, minio.MakeBucketOptions{}))
	t.Cleanup(func() { removeBucket(mc, buggy.Bucket) })
	s3 := func(m *testMinIO, router string) map[string]string {
		return map[string]string{"connector.class": "io.pipechaos.connect.S3JsonSink", "topics": "audit", "tasks.max": "2",
			"s3.endpoint": "http://" + m.Endpoint, "s3.bucket": m.Bucket, "s3.access.key": m.AccessKey, "s3.secret.key": m.SecretKey,
			"flush.size": "50", "errors.tolerance": "none", "header.converter": "org.apache.kafka.connect.storage.StringConverter",
			"transforms": "site", "transforms.site.type": router}
	}
	require.NoError(t, w.PutConnector(ctx, "s3-fixed", s3(store, routerClass)))
	require.NoError(t, w.PutConnector(ctx, "s3-buggy", s3(&buggy, buggyClass)))

	sctx, scancel := context.WithTimeout(ctx, 5*time.Minute)
	defer scancel()
	var got map[uint64][]string
	for {
		got = store.objects(sctx, t)
		if len(got) >= len(want.route) || sctx.Err() != nil {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	require.Len(t, got, len(want.route))
	for id, keys := range got {
		require.Len(t, keys, 1, "record %d in more than one object", id)
		require.True(t, strings.HasPrefix(keys[0], want.route[strconv.FormatUint(id, 10)]+"/"), "record %d under %s", id, keys[0])
	}
	s, err := w.WaitStatus(sctx, "s3-buggy", func(s connect.Status) bool { return len(s.Failed()) > 0 })
	require.NoError(t, err, "the buggy task never FAILED per the REST API")
	lost := len(want.route) - len(buggy.objects(ctx, t))
	t.Logf("nodes: fixed: %d records once under their routes; buggy: %s, %d of %d acked records never reached %s; worker peak RSS %s",
		len(got), s, lost, len(want.route), buggy.Bucket, mib(w.PeakRSS()))
	require.Positive(t, lost)
}

func removeBucket(mc *minio.Client, bucket string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err == nil {
			_ = mc.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{})
		}
	}
	_ = mc.RemoveBucket(ctx, bucket)
}
