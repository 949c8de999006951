package nodes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/pipechaos/pipechaos/harness/env"
)

// Six JVMs take a minute or more to start on a loaded two-core machine,
// longer than most scenarios run. Shared lets the tests of one process
// use one environment: each test gets it healed and emptied (Reset), as
// if new, and it is closed once, by CloseShared, when the tests are done
// (a killed test binary leaves it to the next New's sweep).

var shared struct {
	mu  sync.Mutex
	e   *Environment
	cfg env.Config
}

// Shared returns the process's shared environment for cfg, started on
// first use and Reset on every later one. Its Close does nothing; call
// CloseShared after the tests (TestMain).
func Shared(tb testing.TB, cfg env.Config) (env.Environment, error) {
	tb.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	key := cfg
	key.Logf, key.DataDir = nil, ""
	if shared.e != nil && shared.cfg.BrokersPerRegion == key.BrokersPerRegion && shared.cfg.Bucket == key.Bucket {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		if err := shared.e.Reset(ctx); err != nil {
			return nil, fmt.Errorf("reset the shared nodes environment: %w", err)
		}
		tb.Logf("nodes: shared environment %s reset in %v", shared.e.session, time.Since(start).Round(time.Millisecond))
		return shared.e, nil
	}
	if shared.e != nil {
		_ = shared.e.closeNow()
		shared.e = nil
	}
	// The start is told in this test's log; later lines would outlive it.
	logf := cfg.Logf
	cfg.Logf = func(format string, args ...any) { logf(format, args...); tb.Logf(format, args...) }
	e, err := Start(cfg)
	if err != nil {
		return nil, err
	}
	e.cfg.Logf = logf
	e.shared = true
	shared.e, shared.cfg = e, key
	return e, nil
}

// CloseShared closes the shared environment, if any.
func CloseShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.e == nil {
		return nil
	}
	err := shared.e.closeNow()
	shared.e = nil
	return err
}

// Reset brings the environment back to its state after New: every broker
// running, unfrozen and reachable, every user topic and consumer group
// deleted in both regions, the bucket emptied, the registry restarted
// empty, and the fault layers healed with fresh counters.
func (e *Environment) Reset(ctx context.Context) error {
	var errs []error
	for _, r := range e.regions {
		errs = append(errs, r.reset(ctx))
	}
	if e.registry != nil {
		errs = append(errs, e.registry.s.restart(ctx, "/healthz"))
	}
	if e.store != nil {
		errs = append(errs, e.store.s.restart(ctx, "/minio/health/live"), e.store.empty(ctx))
	}
	return errors.Join(errs...)
}

func (r *Region) reset(ctx context.Context) error {
	r.healFront()
	for _, b := range r.brokers {
		if b.proc.running() {
			_ = b.proc.signal(syscall.SIGCONT)
		}
		if r.e.net.netns {
			if err := errors.Join(r.e.net.heal(b.node, chainClients), r.e.net.heal(b.node, chainPeers)); err != nil {
				return err
			}
		}
	}
	if err := r.Start(ctx); err != nil {
		return err
	}
	cl, err := r.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		err := r.wipe(ctx, adm)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("empty region %s: %w (last: %v)", r.name, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// wipe deletes every consumer group and user topic; nil once none is left.
func (r *Region) wipe(ctx context.Context, adm *kadm.Client) error {
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return err
	}
	if len(groups) > 0 {
		resp, err := adm.DeleteGroups(ctx, groups.Groups()...)
		if err != nil {
			return err
		}
		for g, d := range resp {
			if d.Err != nil && !errors.Is(d.Err, kerr.GroupIDNotFound) {
				return fmt.Errorf("delete group %s: %w", g, d.Err)
			}
		}
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return err
	}
	if names := topics.Names(); len(names) > 0 {
		if _, err := adm.DeleteTopics(ctx, names...); err != nil {
			return err
		}
		return fmt.Errorf("topics %v being deleted", names)
	}
	if len(groups) > 0 {
		return fmt.Errorf("groups %v being deleted", groups.Groups())
	}
	return nil
}

// restart kills the service's process and starts it again on the same
// port, behind a new fault layer (no fault, zero counters) served on the
// same address.
func (s *service) restart(ctx context.Context, health string) error {
	addr := s.srv.Addr()
	if err := s.srv.Close(); err != nil {
		return err
	}
	s.layer.CloseIdleConnections()
	if err := s.proc.kill(); err != nil {
		return err
	}
	if err := s.proc.start(); err != nil {
		return err
	}
	if err := waitHTTP(ctx, s.proc, fmt.Sprintf("http://127.0.0.1:%d%s", s.port, health)); err != nil {
		return err
	}
	return s.serveLayer(addr)
}

// empty removes every object of the bucket (MinIO keeps its data dir
// across the restart). A MinIO that has just restarted may answer its
// liveness probe before it lists; a failed listing or removal is tried
// again until the bucket lists empty or ctx ends.
func (s *Store) empty(ctx context.Context) error {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	mc, err := minio.New(fmt.Sprintf("127.0.0.1:%d", s.s.port), &minio.Options{Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""), Transport: tr})
	if err != nil {
		return err
	}
	for {
		left, err := s.removeAll(ctx, mc)
		if err == nil && left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("empty bucket %s: %w (last: %d objects listed, %v)", s.bucket, ctx.Err(), left, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// removeAll lists the bucket and removes what it listed; it returns how
// many objects were listed. A listing error is returned before anything
// is removed: minio-go would pass its empty key on to the delete.
func (s *Store) removeAll(ctx context.Context, mc *minio.Client) (int, error) {
	var objs []minio.ObjectInfo
	for o := range mc.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return len(objs), fmt.Errorf("list: %w", o.Err)
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		return 0, nil
	}
	ch := make(chan minio.ObjectInfo, len(objs))
	for _, o := range objs {
		ch <- o
	}
	close(ch)
	var errs []error
	for res := range mc.RemoveObjects(ctx, s.bucket, ch, minio.RemoveObjectsOptions{}) {
		if res.Err != nil {
			errs = append(errs, fmt.Errorf("remove %q: %w", res.ObjectName, res.Err))
		}
	}
	return len(objs), errors.Join(errs...)
}
