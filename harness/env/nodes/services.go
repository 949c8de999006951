package nodes

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/pipechaos/pipechaos/fakes/httpfault"
	"github.com/pipechaos/pipechaos/harness/env"
)

// Credentials of the MinIO store.
const (
	AccessKey = "pipechaos"
	SecretKey = "pipechaos-secret"
)

// minioVersion is the MinIO release scripts/minio-bin.sh builds (the one
// images/build.sh puts in pipechaos/minio).
const minioVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"

func cacheDir() string {
	if d := os.Getenv("PIPECHAOS_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "pipechaos")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "pipechaos")
}

// minioBinary is the cached MinIO binary ($PIPECHAOS_MINIO_BIN overrides).
func minioBinary() (string, error) {
	if p := os.Getenv("PIPECHAOS_MINIO_BIN"); p != "" {
		return p, nil
	}
	p := filepath.Join(cacheDir(), "bin", "minio-"+minioVersion)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("MinIO binary %s is missing: build it once with scripts/minio-bin.sh (about 6 minutes), or set PIPECHAOS_MINIO_BIN", p)
	}
	return p, nil
}

// registryBinary builds cmd/pipechaos-registry once per test process.
func registryBinary() (string, error) {
	regOnce.Do(func() {
		dir := filepath.Join(cacheDir(), "nodes")
		if regErr = os.MkdirAll(dir, 0o755); regErr != nil {
			return
		}
		tmp := filepath.Join(dir, fmt.Sprintf("pipechaos-registry.%d", os.Getpid()))
		cmd := exec.Command("go", "build", "-o", tmp, "./fakes/registry/cmd/pipechaos-registry")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			regErr = fmt.Errorf("build pipechaos-registry: %w: %s", err, out)
			return
		}
		regBin = filepath.Join(dir, "pipechaos-registry")
		regErr = os.Rename(tmp, regBin)
	})
	return regBin, regErr
}

var (
	regOnce sync.Once
	regBin  string
	regErr  error
)

// freePort picks a free port on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// service is a process on 127.0.0.1:port behind an HTTP fault layer.
type service struct {
	proc  *process
	port  int
	body  httpfault.Opt
	layer *httpfault.Layer
	srv   *httpfault.Server
}

func (e *Environment) startService(ctx context.Context, name string, argv []string, envv []string, port int, health string, body httpfault.Opt) (*service, error) {
	s := &service{port: port, proc: &process{
		name: name, argv: argv, env: envv, owner: e.owner,
		log: filepath.Join(e.dir, name+".log"),
	}}
	e.track(s.proc)
	if err := s.proc.start(); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, s.proc, fmt.Sprintf("http://127.0.0.1:%d%s", port, health)); err != nil {
		return nil, err
	}
	s.body = body
	if err := s.serveLayer(""); err != nil {
		return nil, err
	}
	e.addCloser(func() error {
		err := s.srv.Close()
		s.layer.CloseIdleConnections()
		return err
	})
	return s, nil
}

// serveLayer puts a new fault layer in front of the process, served on
// addr ("": a free port on 127.0.0.1).
func (s *service) serveLayer(addr string) error {
	s.layer = httpfault.NewProxy(&url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", s.port)}, s.body)
	srv, err := httpfault.Serve(s.layer, addr)
	if err != nil {
		return fmt.Errorf("serve fault layer of %s: %w", s.proc.name, err)
	}
	s.srv = srv
	return nil
}

// waitHTTP polls url until it answers 200, the process exits or ctx ends.
func waitHTTP(ctx context.Context, p *process, u string) error {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Second}
	for {
		if !p.running() {
			return p.withTail(fmt.Errorf("%s exited while starting", p.name))
		}
		if resp, err := hc.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return p.withTail(fmt.Errorf("%s not ready at %s: %w", p.name, u, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Registry is the pipechaos registry process behind a fault layer.
type Registry struct{ s *service }

var _ env.Registry = (*Registry)(nil)

func (e *Environment) startRegistry(ctx context.Context) (*Registry, error) {
	bin, err := registryBinary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s, err := e.startService(ctx, "registry", []string{bin, "-listen", fmt.Sprintf("127.0.0.1:%d", port)}, nil,
		port, "/healthz", httpfault.ErrorBody(httpfault.RegistryErrorBody))
	if err != nil {
		return nil, err
	}
	return &Registry{s: s}, nil
}

func (r *Registry) URL() string            { return r.s.srv.URL() }
func (r *Registry) Faults() env.HTTPFaults { return r.s.layer }

// Stop makes the registry unreachable: the fault layer's port refuses
// connections and the process is frozen (SIGSTOP), its schemas kept in
// its memory; Start thaws it and listens again on the same address.
func (r *Registry) Stop(context.Context) error {
	if err := r.s.srv.Stop(); err != nil {
		return err
	}
	r.s.layer.CloseIdleConnections()
	return r.s.proc.signal(syscall.SIGSTOP)
}

func (r *Registry) Start(context.Context) error {
	if err := r.s.proc.signal(syscall.SIGCONT); err != nil {
		return err
	}
	return r.s.srv.Start()
}

// Store is MinIO behind a fault layer.
type Store struct {
	s      *service
	bucket string
}

var _ env.Store = (*Store)(nil)

func (e *Environment) startStore(ctx context.Context) (*Store, error) {
	bin, err := minioBinary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(e.dir, "minio-data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	s, err := e.startService(ctx, "minio",
		[]string{bin, "server", data, "--address", fmt.Sprintf("127.0.0.1:%d", port), "--quiet"},
		[]string{"MINIO_ROOT_USER=" + AccessKey, "MINIO_ROOT_PASSWORD=" + SecretKey, "MINIO_UPDATE=off", "MINIO_BROWSER=off"},
		port, "/minio/health/live", httpfault.ErrorBody(httpfault.S3ErrorBody))
	if err != nil {
		return nil, err
	}
	if err := makeBucket(ctx, fmt.Sprintf("127.0.0.1:%d", port), e.cfg.Bucket); err != nil {
		return nil, s.proc.withTail(err)
	}
	return &Store{s: s, bucket: e.cfg.Bucket}, nil
}

func makeBucket(ctx context.Context, endpoint, bucket string) error {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	mc, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""), Transport: tr})
	if err != nil {
		return fmt.Errorf("minio client: %w", err)
	}
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		if ok, e2 := mc.BucketExists(ctx, bucket); e2 != nil || !ok {
			return fmt.Errorf("create bucket %s: %w", bucket, err)
		}
	}
	return nil
}

func (s *Store) Endpoint() string       { return s.s.srv.Addr() }
func (s *Store) AccessKey() string      { return AccessKey }
func (s *Store) SecretKey() string      { return SecretKey }
func (s *Store) Bucket() string         { return s.bucket }
func (s *Store) Faults() env.HTTPFaults { return s.s.layer }

// Stop kills MinIO (its data dir stays) and makes the fault layer's port
// refuse connections; Start runs MinIO again on the same port and data.
func (s *Store) Stop(context.Context) error {
	if err := s.s.srv.Stop(); err != nil {
		return err
	}
	s.s.layer.CloseIdleConnections()
	return s.s.proc.kill()
}

func (s *Store) Start(ctx context.Context) error {
	if err := s.s.proc.start(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := waitHTTP(ctx, s.s.proc, fmt.Sprintf("http://127.0.0.1:%d/minio/health/live", s.s.port)); err != nil {
		return err
	}
	return s.s.srv.Start()
}
