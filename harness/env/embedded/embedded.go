// Package embedded is the default backend: every part of the environment
// runs in this process on 127.0.0.1, with no Docker. Each Kafka region is a
// kfake cluster (fakes/kafka) persisted on a data dir, so a stopped region or
// a crashed broker comes back with its logs, groups and offsets; the
// registry is fakes/registry; the store is gofakes3 in memory. The registry
// and the store sit behind an HTTP fault layer (fakes/httpfault) whose
// counters are the cost side of a run.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/fakes/kafka"
	"github.com/pipechaos/pipechaos/fakes/registry"
	"github.com/pipechaos/pipechaos/harness/env"
)

// Environment is the embedded environment.
type Environment struct {
	cfg      env.Config
	regions  map[string]*Region
	registry *registry.Registry
	store    *Store
	tmpDir   string // removed on Close when we created it

	closeOnce sync.Once
	closeErr  error
}

var _ env.Environment = (*Environment)(nil)

// New starts an embedded environment for a test and registers its teardown
// with tb.Cleanup. Data dirs live under tb.TempDir unless cfg.DataDir is set.
func New(tb testing.TB, cfg env.Config) (*Environment, error) {
	tb.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	e, err := Start(cfg)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { _ = e.Close() })
	return e, nil
}

// Start starts an embedded environment outside a test (the CLI's `up` and
// `run`). The caller must Close it.
func Start(cfg env.Config) (_ *Environment, err error) {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.BrokersPerRegion < 1 {
		cfg.BrokersPerRegion = 3
	}
	if cfg.Bucket == "" {
		cfg.Bucket = "pipechaos"
	}
	e := &Environment{cfg: cfg, regions: map[string]*Region{}}
	defer func() {
		if err != nil {
			_ = e.Close()
		}
	}()
	if cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "pipechaos-*")
		if err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		e.cfg.DataDir, e.tmpDir = dir, dir
	}
	for _, name := range []string{env.Primary, env.Secondary} {
		r, err := startRegion(name, filepath.Join(e.cfg.DataDir, name), cfg.BrokersPerRegion)
		if err != nil {
			return nil, fmt.Errorf("start region %s: %w", name, err)
		}
		e.regions[name] = r
		cfg.Logf("region %s: brokers %v", name, r.Bootstrap())
	}
	if e.registry, err = registry.New(); err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	cfg.Logf("registry: %s", e.registry.URL())
	if e.store, err = startStore(cfg.Bucket); err != nil {
		return nil, fmt.Errorf("start store: %w", err)
	}
	cfg.Logf("store: http://%s bucket %s", e.store.Endpoint(), cfg.Bucket)
	return e, nil
}

func (e *Environment) Backend() string { return env.Embedded }

func (e *Environment) Region(name string) env.Region {
	if r, ok := e.regions[name]; ok {
		return r
	}
	return nil
}

func (e *Environment) Registry() env.Registry { return embeddedRegistry{e.registry} }

// embeddedRegistry is the pipechaos registry as env.Registry sees it.
type embeddedRegistry struct{ *registry.Registry }

func (r embeddedRegistry) Faults() env.HTTPFaults { return r.Registry.Faults() }
func (e *Environment) Store() env.Store           { return e.store }

// Close tears everything down; it is idempotent.
func (e *Environment) Close() error {
	e.closeOnce.Do(func() {
		var errs []error
		for _, r := range e.regions {
			r.close()
		}
		if e.registry != nil {
			errs = append(errs, e.registry.Close())
		}
		if e.store != nil {
			errs = append(errs, e.store.close())
		}
		if e.tmpDir != "" {
			errs = append(errs, os.RemoveAll(e.tmpDir))
		}
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

// Region is one kfake cluster. Its ports and data dir are fixed for the life
// of the environment, so Stop/Start and broker restarts keep addresses.
type Region struct {
	name  string
	dir   string
	ports []int

	mu      sync.Mutex
	cluster *kafka.Cluster // nil while stopped
}

var (
	_ env.Region          = (*Region)(nil)
	_ env.ProtocolFaulter = (*Region)(nil)
	_ env.RequestSlower   = (*Region)(nil)
)

func startRegion(name, dir string, brokers int) (*Region, error) {
	ports, err := freePorts(brokers)
	if err != nil {
		return nil, err
	}
	r := &Region{name: name, dir: dir, ports: ports}
	if err := r.Start(context.Background()); err != nil {
		return nil, err
	}
	return r, nil
}

// freePorts reserves n distinct free ports on 127.0.0.1 by listening on
// port 0, then releases them for the brokers to bind.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserve port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (r *Region) Name() string { return r.name }

func (r *Region) Bootstrap() []string {
	out := make([]string, len(r.ports))
	for i, p := range r.ports {
		out[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	}
	return out
}

func (r *Region) Client(opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := kgo.NewClient(append(env.ClientOpts(r.Bootstrap()), opts...)...)
	if err != nil {
		return nil, fmt.Errorf("new client for region %s: %w", r.name, err)
	}
	return cl, nil
}

func (r *Region) CreateTopic(ctx context.Context, topic string, partitions int32) error {
	cl, err := r.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	rf := int16(min(len(r.ports), 3))
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, rf, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create topic %s in region %s: %w", topic, r.name, err)
	}
	return nil
}

func (r *Region) Brokers() []int32 {
	nodes := make([]int32, len(r.ports))
	for i := range r.ports {
		nodes[i] = int32(i)
	}
	return nodes
}

// running returns the live cluster or an error saying the region is down.
func (r *Region) running() (*kafka.Cluster, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cluster == nil {
		return nil, fmt.Errorf("region %s is stopped", r.name)
	}
	return r.cluster, nil
}

// Stop closes the cluster (persisting it) and every connection to it.
func (r *Region) Stop(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cluster != nil {
		r.cluster.Close()
		r.cluster = nil
	}
	return nil
}

// Start reopens the cluster on the same ports and data dir.
func (r *Region) Start(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cluster != nil {
		return nil
	}
	c, err := kafka.Start(kafka.Config{Ports: r.ports, DataDir: r.dir, Opts: []kfake.Opt{
		// Scenarios scale group timeouts down to seconds; real Kafka's
		// 6s floor would make every rebalance cost tens of seconds.
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}})
	if err != nil {
		return fmt.Errorf("start region %s: %w", r.name, err)
	}
	r.cluster = c
	return nil
}

func (r *Region) CrashBroker(_ context.Context, node int32) error {
	c, err := r.running()
	if err != nil {
		return err
	}
	return c.CrashBroker(node)
}

func (r *Region) RestartBroker(_ context.Context, node int32) error {
	c, err := r.running()
	if err != nil {
		return err
	}
	return c.RestartBroker(node)
}

func (r *Region) Isolate(_ context.Context, node int32) error {
	c, err := r.running()
	if err != nil {
		return err
	}
	return c.Isolate(node)
}

func (r *Region) Reconnect(_ context.Context, node int32) error {
	c, err := r.running()
	if err != nil {
		return err
	}
	return c.Reconnect(node)
}

// InjectError installs a kfake fault; heal removes it.
func (r *Region) InjectError(f env.ProtocolFault) (func(), error) {
	c, err := r.running()
	if err != nil {
		return nil, err
	}
	id, err := c.InjectFault(kafka.Fault{Key: f.Key, Topic: f.Topic, ErrCode: f.ErrCode, Count: f.Count})
	if err != nil {
		return nil, err
	}
	return func() { c.RemoveFault(id) }, nil
}

func (r *Region) close() {
	_ = r.Stop(context.Background())
}
