package nodes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipechaos/pipechaos/harness/env"
)

// startTimeout bounds the start of a region (six JVMs at once on a loaded
// two-core machine take tens of seconds) and of one restarted broker.
const startTimeout = 6 * time.Minute

// Environment is the nodes backend's env.Environment.
type Environment struct {
	cfg     env.Config
	dist    string
	dir     string
	session string
	owner   string // ownerEnv value: "<pid>:<session>"
	net     *network
	noNetns string // why namespaces are not used, "" when they are
	shared  bool   // Shared's: Close does nothing

	regions  map[string]*Region
	registry *Registry
	store    *Store

	mu       sync.Mutex
	procs    []*process
	closers  []func() error
	closed   bool
	closeErr error
}

var _ env.Environment = (*Environment)(nil)

// New starts the nodes backend for a test: two regions of
// cfg.BrokersPerRegion real Kafka brokers each (3 by default), the
// registry and MinIO with cfg.Bucket. Close is registered with tb.Cleanup
// before anything starts, so a failed or panicking test still removes
// what was started. Logs and data live under tb.TempDir unless
// cfg.DataDir is set; a start failure's error ends with the tail of the
// failing process's log.
func New(tb testing.TB, cfg env.Config) (env.Environment, error) {
	tb.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	e, err := start(cfg, func(e *Environment) {
		tb.Cleanup(func() {
			if err := e.Close(); err != nil {
				tb.Errorf("close nodes environment: %v", err)
			}
		})
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Start starts the backend outside a test (the CLI); the caller must Close it.
func Start(cfg env.Config) (*Environment, error) {
	if cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "pipechaos-nodes-*")
		if err != nil {
			return nil, err
		}
		cfg.DataDir = dir
	}
	return start(cfg, func(*Environment) {})
}

func start(cfg env.Config, registerClose func(*Environment)) (_ *Environment, err error) {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.BrokersPerRegion == 0 {
		cfg.BrokersPerRegion = 3
	}
	if cfg.Bucket == "" {
		cfg.Bucket = "pipechaos"
	}
	if 2*cfg.BrokersPerRegion > maxNodes {
		return nil, fmt.Errorf("the nodes backend runs at most %d brokers per region, got %d", maxNodes/2, cfg.BrokersPerRegion)
	}
	begin := time.Now()
	if removed, err := Sweep(false); err != nil {
		cfg.Logf("nodes: sweep of leftovers: %v", err)
	} else if len(removed) > 0 {
		cfg.Logf("nodes: swept leftovers of dead owners: %s", strings.Join(removed, "; "))
	}
	if err := Available(); err != nil {
		return nil, err
	}
	dist, err := kafkaDist()
	if err != nil {
		return nil, err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	e := &Environment{cfg: cfg, dist: dist, dir: cfg.DataDir, session: hex.EncodeToString(b[:]), regions: map[string]*Region{}}
	e.owner = fmt.Sprintf("%d:%s", os.Getpid(), e.session)
	slot, lock, err := allocSlot()
	if err != nil {
		return nil, err
	}
	e.net = &network{slot: slot, lock: lock, session: e.session, pid: os.Getpid(),
		owner: fmt.Sprintf("pid=%d session=%s", os.Getpid(), e.session)}
	registerClose(e)
	// A failed start, or a panic on the way, tears down what was started.
	defer func() {
		if p := recover(); p != nil {
			_ = e.Close()
			panic(p)
		}
		if err != nil {
			_ = e.Close()
		}
	}()
	if why := canNetns(); why != nil {
		e.noNetns = why.Error()
		cfg.Logf("nodes: no network namespaces (%v): brokers listen on 127.213.%d.x, network faults unsupported", why, slot)
	} else {
		e.net.netns = true
		if err := e.net.setup(); err != nil {
			return nil, fmt.Errorf("nodes network: %w", err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	names := []string{env.Primary, env.Secondary}
	errs := make([]error, len(names)+2)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			t0 := time.Now()
			r, err := e.newRegion(name, i*cfg.BrokersPerRegion)
			if err == nil {
				t1 := time.Now()
				err = r.start(ctx, r.brokers...)
				if err == nil {
					err = r.warmGroups(ctx)
				}
				cfg.Logf("nodes: region %s laid out in %v, its brokers ready %v later", name, t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
			}
			e.mu.Lock()
			e.regions[name] = r
			e.mu.Unlock()
			if err != nil {
				errs[i] = fmt.Errorf("start region %s: %w", name, err)
			}
		})
	}
	wg.Go(func() {
		t0 := time.Now()
		e.registry, errs[2] = e.startRegistry(ctx)
		cfg.Logf("nodes: registry up in %v", time.Since(t0).Round(time.Millisecond))
	})
	wg.Go(func() {
		t0 := time.Now()
		e.store, errs[3] = e.startStore(ctx)
		cfg.Logf("nodes: store up in %v", time.Since(t0).Round(time.Millisecond))
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, name := range names {
		cfg.Logf("nodes: %s", e.regions[name])
	}
	cfg.Logf("nodes: registry %s, store http://%s bucket %s", e.registry.URL(), e.store.Endpoint(), cfg.Bucket)
	cfg.Logf("nodes: environment %s up in %v (namespaces: %v)", e.session, time.Since(begin).Round(time.Millisecond), e.net.netns)
	return e, nil
}

func (e *Environment) track(p *process) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.procs = append(e.procs, p)
}

func (e *Environment) addCloser(fn func() error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closers = append(e.closers, fn)
}

func (e *Environment) Backend() string { return env.Nodes }

func (e *Environment) Region(name string) env.Region {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.regions[name]; ok {
		return r
	}
	return nil
}

func (e *Environment) Registry() env.Registry { return e.registry }
func (e *Environment) Store() env.Store       { return e.store }

// Session is the environment's id, part of every name it creates.
func (e *Environment) Session() string { return e.session }

// Namespaces reports whether brokers run in network namespaces.
func (e *Environment) Namespaces() bool { return e.net.netns }

// Close kills every process, stops the fault layers, deletes the
// namespaces, veths, bridge and iptables rules. It is idempotent. The
// shared environment (Shared) ignores it: CloseShared closes that one.
func (e *Environment) Close() error {
	if e.shared {
		return nil
	}
	return e.closeNow()
}

func (e *Environment) closeNow() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return e.closeErr
	}
	e.closed = true
	procs, closers := e.procs, e.closers
	var nodes []string
	for _, r := range e.regions {
		if r != nil {
			nodes = append(nodes, r.nodes()...)
		}
	}
	e.mu.Unlock()

	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		errs = append(errs, closers[i]())
	}
	var wg sync.WaitGroup
	kerrs := make([]error, len(procs))
	for i, p := range procs {
		wg.Go(func() { kerrs[i] = p.kill() })
	}
	wg.Wait()
	errs = append(errs, kerrs...)
	if e.net != nil {
		errs = append(errs, e.net.teardown(nodes))
	}
	e.mu.Lock()
	e.closeErr = errors.Join(errs...)
	e.mu.Unlock()
	return e.closeErr
}
