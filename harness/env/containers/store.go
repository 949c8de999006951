package containers

import (
	"context"
	"fmt"
	"net/http"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/testcontainers/testcontainers-go"
	tcminio "github.com/testcontainers/testcontainers-go/modules/minio"

	"github.com/pipechaos/pipechaos/fakes/httpfault"
	"github.com/pipechaos/pipechaos/harness/env"
)

const minioPort = 9000

// store is MinIO behind an HTTP fault layer; Endpoint is the layer's.
type store struct {
	proc   *proc
	layer  *httpfault.Layer
	srv    *httpfault.Server
	bucket string
	access string
	secret string
}

var (
	_ env.Store     = (*store)(nil)
	_ ProcessFaults = (*store)(nil)
)

func (e *environment) startStore(ctx context.Context) (*store, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	opts := append(e.common("minio", []string{"minio"}, map[int]int{minioPort: ports[0]}), minioOpts(e.ccfg, ports[0])...)
	ctr, err := tcminio.Run(ctx, e.ccfg.MinIOImage, opts...)
	var dc *testcontainers.DockerContainer
	if ctr != nil {
		dc, _ = ctr.Container.(*testcontainers.DockerContainer)
	}
	p, err := e.track("minio", []string{"minio"}, dc, err)
	if err != nil {
		return nil, err
	}
	if err := createBucket(ctx, fmt.Sprintf("%s:%d", loopback, ports[0]), e.ccfg, e.cfg.Bucket); err != nil {
		return nil, err
	}
	layer, srv, err := e.faultProxy(ports[0], httpfault.ErrorBody(httpfault.S3ErrorBody))
	if err != nil {
		return nil, err
	}
	return &store{proc: p, layer: layer, srv: srv, bucket: e.cfg.Bucket, access: e.ccfg.AccessKey, secret: e.ccfg.SecretKey}, nil
}

// minioOpts configures the MinIO module (the same for pipechaos/minio and
// minio/minio: both run `minio server /data`).
func minioOpts(cfg Config, hostPort int) []testcontainers.ContainerCustomizer {
	return []testcontainers.ContainerCustomizer{
		tcminio.WithUsername(cfg.AccessKey),
		tcminio.WithPassword(cfg.SecretKey),
		testcontainers.WithEnv(map[string]string{"MINIO_UPDATE": "off", "MINIO_BROWSER": "off"}),
		// replaces the module's wait, which dials testcontainers' Docker host
		testcontainers.WithWaitStrategy(&httpReady{port: hostPort, path: "/minio/health/live", timeout: cfg.StartupTimeout}),
	}
}

func createBucket(ctx context.Context, endpoint string, cfg Config, bucket string) error {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	mc, err := minio.New(endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Transport: tr,
	})
	if err != nil {
		return fmt.Errorf("minio client: %w", err)
	}
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		if exists, e2 := mc.BucketExists(ctx, bucket); e2 != nil || !exists {
			return fmt.Errorf("create bucket %s: %w", bucket, err)
		}
	}
	return nil
}

func (s *store) Endpoint() string       { return s.srv.Addr() }
func (s *store) AccessKey() string      { return s.access }
func (s *store) SecretKey() string      { return s.secret }
func (s *store) Bucket() string         { return s.bucket }
func (s *store) Faults() env.HTTPFaults { return s.layer }

func (s *store) Kill(ctx context.Context) error       { return s.proc.kill(ctx) }
func (s *store) Pause(ctx context.Context) error      { return s.proc.pause(ctx) }
func (s *store) Unpause(ctx context.Context) error    { return s.proc.unpause(ctx) }
func (s *store) Disconnect(ctx context.Context) error { return s.proc.disconnect(ctx) }
func (s *store) Connect(ctx context.Context) error    { return s.proc.connect(ctx) }

// Stop takes MinIO down (data kept in the container) and makes the fault
// layer's port refuse connections; Start brings both back.
func (s *store) Stop(ctx context.Context) error {
	if err := s.srv.Stop(); err != nil {
		return err
	}
	s.layer.CloseIdleConnections()
	return s.proc.stop(ctx)
}

// Start undoes Stop (and Kill, Pause, Disconnect).
func (s *store) Start(ctx context.Context) error {
	if err := s.proc.start(ctx); err != nil {
		return err
	}
	return s.srv.Start()
}
