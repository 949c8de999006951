package harness

import (
	"bytes"
	"context"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/embedded"
	"github.com/pipechaos/pipechaos/harness/history"
)

// Every object a client writes to the store is recorded as a SinkWrite,
// seen at the store's fault layer: single PUTs and multipart uploads, with
// the key and the bytes the store received; refused writes are not.
func TestObserveStoreWrites(t *testing.T) {
	ctx := context.Background()
	cfg, err := env.NewConfig()
	require.NoError(t, err)
	e, err := embedded.New(t, cfg)
	require.NoError(t, err)
	h := history.New()
	stop, ok := observeStoreWrites(e.Store(), h)
	require.True(t, ok)
	defer stop()

	cl, err := StoreClient(e.Store())
	require.NoError(t, err)
	bucket := e.Store().Bucket()
	_, err = cl.PutObject(ctx, bucket, "topics/t/a+0+0.json", bytes.NewReader([]byte("{}\n{}\n")), 6, minio.PutObjectOptions{})
	require.NoError(t, err)
	big := bytes.Repeat([]byte("x"), 6<<20)
	_, err = cl.PutObject(ctx, bucket, "topics/t/big", bytes.NewReader(big), -1, minio.PutObjectOptions{PartSize: 5 << 20})
	require.NoError(t, err)
	e.Store().Faults().Inject(env.HTTPFault{Status: 503, Methods: []string{"PUT"}})
	_, err = cl.PutObject(ctx, bucket, "topics/t/refused", bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{})
	require.Error(t, err)
	e.Store().Faults().Heal()

	ws := h.Filter(history.SinkWrite)
	require.Len(t, ws, 2, "%+v", ws)
	require.Equal(t, "topics/t/a+0+0.json", ws[0].Object)
	require.Equal(t, int64(6), ws[0].Bytes)
	require.Equal(t, StoreProcess, ws[0].Process)
	require.Equal(t, "topics/t/big", ws[1].Object)
	require.Equal(t, int64(len(big)), ws[1].Bytes)
}
