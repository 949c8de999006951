package containers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	dnetwork "github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/pipechaos/pipechaos/harness/env"
)

// environment is the containers backend's env.Environment.
type environment struct {
	cfg     env.Config
	ccfg    Config
	session string
	labels  map[string]string
	logger  tclog.Logger
	docker  *testcontainers.DockerClient
	net     *testcontainers.DockerNetwork

	regions  map[string]*region
	lazy     map[string]*lazyRegion // Apache Kafka: regions started on first use
	registry *registry
	store    *store

	mu       sync.Mutex
	procs    []*proc // every container started, for Close
	closers  []func() error
	closed   bool
	closeErr error
}

var _ env.Environment = (*environment)(nil)

// New starts the containers backend: a private network, two Kafka regions
// of cfg.BrokersPerRegion brokers, the registry and MinIO with
// cfg.Bucket, each behind what faults need. Close is registered with
// tb.Cleanup before anything starts, so a failed or panicking test still
// removes what was started. Containers keep their data in their own
// writable layer (across stop, kill and start); cfg.DataDir is not used.
// With an Apache Kafka image the secondary region starts on its first
// Region call rather than here.
func New(tb testing.TB, cfg env.Config, opts ...Opt) (env.Environment, error) {
	tb.Helper()
	ccfg, err := NewConfig(opts...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*ccfg.StartupTimeout)
	defer cancel()
	start := time.Now()

	docker, err := dockerClient(ctx)
	if err != nil {
		return nil, err
	}
	e := &environment{
		cfg:     cfg,
		ccfg:    ccfg,
		session: newSession(),
		docker:  docker,
		logger:  logfLogger(cfg.Logf),
		regions: make(map[string]*region),
		lazy:    make(map[string]*lazyRegion),
	}
	e.labels = ownerLabels(e.session)
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Errorf("close containers environment: %v", err)
		}
	})

	if removed, err := sweep(ctx, docker, ownerDead); err != nil {
		cfg.Logf("containers: sweep of leftovers: %v", err)
	} else if len(removed) > 0 {
		cfg.Logf("containers: swept leftovers of crashed runs: %s", strings.Join(removed, ", "))
	}
	if err := ensureImages(ctx, docker, ccfg.KafkaImage, ccfg.RegistryImage, ccfg.MinIOImage); err != nil {
		return nil, fmt.Errorf("containers backend: %w", err)
	}

	nw, err := network.New(ctx, network.WithLabels(e.labels), network.WithAttachable())
	if err != nil {
		return nil, fmt.Errorf("create network: %w", err)
	}
	e.net = nw
	e.addCloser(func() error { return nw.Remove(context.Background()) })

	// Everything starts at once; the official registry alone waits for
	// Kafka, which holds its schemas.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i, name := range []string{env.Primary, env.Secondary} {
		if name == env.Secondary && officialKafka(ccfg.KafkaImage) {
			// Three JVMs fewer at start: most scenarios never touch the
			// secondary region; it starts when first asked for.
			e.lazy[name] = &lazyRegion{}
			continue
		}
		wg.Go(func() {
			r, err := retryPorts(func() (*region, error) { return e.startRegion(ctx, name) })
			if err == nil {
				e.mu.Lock()
				e.regions[name] = r
				e.mu.Unlock()
			}
			errs[i] = err
		})
	}
	if !officialRegistry(ccfg.RegistryImage) {
		wg.Go(func() { e.registry, errs[2] = retryPorts(func() (*registry, error) { return e.startRegistry(ctx) }) })
	}
	wg.Go(func() { e.store, errs[3] = retryPorts(func() (*store, error) { return e.startStore(ctx) }) })
	wg.Wait()
	if officialRegistry(ccfg.RegistryImage) && errs[0] == nil {
		e.registry, errs[2] = retryPorts(func() (*registry, error) { return e.startRegistry(ctx) })
	}
	if err := joinErrs(errs); err != nil {
		return nil, err
	}
	cfg.Logf("containers: environment %s up in %v", e.session, time.Since(start).Round(time.Millisecond))
	return e, nil
}

func (e *environment) Backend() string { return env.Containers }

// BudgetScale stretches a scenario's time budget (harness.Execute): real
// Apache Kafka brokers take seconds to fence a dead broker and elect new
// leaders, and six JVMs share the machine with the test.
func (e *environment) BudgetScale() float64 {
	if officialKafka(e.ccfg.KafkaImage) {
		return 4
	}
	return 1
}

func (e *environment) Region(name string) env.Region {
	e.mu.Lock()
	r, ok := e.regions[name]
	lz := e.lazy[name]
	e.mu.Unlock()
	if !ok && lz != nil {
		r = e.startLazy(name, lz)
	}
	switch {
	case r == nil:
		return nil
	case r.official:
		return officialRegion{r}
	}
	return r
}

// lazyRegion is a region started on first use.
type lazyRegion struct {
	once sync.Once
	r    *region
}

// startLazy starts a lazy region once; a failure is logged and the region
// stays nil (an unknown region to the caller).
func (e *environment) startLazy(name string, lz *lazyRegion) *region {
	lz.once.Do(func() {
		e.mu.Lock()
		closed := e.closed
		e.mu.Unlock()
		if closed {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*e.ccfg.StartupTimeout)
		defer cancel()
		start := time.Now()
		r, err := retryPorts(func() (*region, error) { return e.startRegion(ctx, name) })
		if err != nil {
			e.cfg.Logf("containers: start region %s on first use: %v", name, err)
			return
		}
		e.cfg.Logf("containers: region %s started on first use in %v", name, time.Since(start).Round(time.Millisecond))
		e.mu.Lock()
		e.regions[name] = r
		e.mu.Unlock()
		lz.r = r
	})
	return lz.r
}

func (e *environment) Registry() env.Registry { return e.registry }
func (e *environment) Store() env.Store       { return e.store }

// addCloser registers fn to run when the environment closes, in reverse
// order of registration; the first one (the network) runs last.
func (e *environment) addCloser(fn func() error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closers = append(e.closers, fn)
}

// Close removes every container and the network, and stops the fault
// layers. It is idempotent.
func (e *environment) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return e.closeErr
	}
	e.closed = true
	ps := procs(e.procs)
	closers := e.closers
	e.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		if i == 0 { // the network goes last, after its containers
			errs = append(errs, ps.each(ctx, func(p *proc, ctx context.Context) error {
				return p.ctr.Terminate(ctx, testcontainers.StopTimeout(0))
			}))
		}
		errs = append(errs, closers[i]())
	}
	if len(closers) == 0 {
		errs = append(errs, ps.each(ctx, func(p *proc, ctx context.Context) error {
			return p.ctr.Terminate(ctx, testcontainers.StopTimeout(0))
		}))
	}
	// Whatever a half-finished start left (a container created but not
	// tracked) goes by label.
	if _, err := sweepSession(ctx, e.docker, e.session); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, e.docker.Close())
	e.mu.Lock()
	e.closeErr = errors.Join(errs...)
	e.mu.Unlock()
	return e.closeErr
}

// run starts one container with the common options, and tracks it for
// Close even when it fails to become ready.
func (e *environment) run(ctx context.Context, role, image string, aliases []string, ports map[int]int, opts ...testcontainers.ContainerCustomizer) (*proc, error) {
	ctr, err := testcontainers.Run(ctx, image, append(e.common(role, aliases, ports), opts...)...)
	return e.track(role, aliases, ctr, err)
}

// common are the options of every container: logger, labels, name,
// network and fixed 127.0.0.1 port bindings (containerPort -> hostPort).
func (e *environment) common(role string, aliases []string, ports map[int]int) []testcontainers.ContainerCustomizer {
	labels := map[string]string{LabelRole: role}
	for k, v := range e.labels {
		labels[k] = v
	}
	exposed := make([]string, 0, len(ports))
	for cp := range ports {
		exposed = append(exposed, portSpec(cp))
	}
	return []testcontainers.ContainerCustomizer{
		testcontainers.WithLogger(e.logger),
		testcontainers.WithLabels(labels),
		testcontainers.WithName("pipechaos-" + e.session + "-" + role),
		network.WithNetwork(aliases, e.net),
		testcontainers.WithExposedPorts(exposed...),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PortBindings = bindings(ports)
		}),
	}
}

func (e *environment) track(role string, aliases []string, ctr *testcontainers.DockerContainer, err error) (*proc, error) {
	if err != nil && ctr != nil && portTaken(err) {
		// It never ran; the caller retries with other ports and the same
		// name, so remove it now.
		_ = ctr.Terminate(context.Background(), testcontainers.StopTimeout(0))
		return nil, fmt.Errorf("run %s: %w", role, err)
	}
	var p *proc
	if ctr != nil {
		p = &proc{e: e, role: role, aliases: aliases, ctr: ctr}
		e.mu.Lock()
		e.procs = append(e.procs, p)
		e.mu.Unlock()
	}
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", role, err)
	}
	return p, nil
}

func bindings(ports map[int]int) dnetwork.PortMap {
	pm := dnetwork.PortMap{}
	for cp, hp := range ports {
		pm[dnetwork.MustParsePort(fmt.Sprintf("%d/tcp", cp))] = []dnetwork.PortBinding{{
			HostIP:   netip.MustParseAddr(loopback),
			HostPort: fmt.Sprint(hp),
		}}
	}
	return pm
}

// portTaken reports whether err is Docker failing to bind a host port
// that was free when we picked it (another process took it meanwhile).
func portTaken(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "port is already allocated") || strings.Contains(msg, "address already in use")
}

// retryPorts calls start again, with new ports, when a host port it
// picked was taken before Docker could bind it.
func retryPorts[T any](start func() (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := start()
		if err == nil || attempt == 3 || !portTaken(err) {
			return v, err
		}
	}
}

// freePorts picks n distinct free ports on 127.0.0.1. The listeners stay
// open until all are picked so no port is picked twice.
func freePorts(n int) ([]int, error) {
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func newSession() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func joinErrs(errs []error) error { return errors.Join(errs...) }

type logfLogger func(format string, args ...any)

func (l logfLogger) Printf(format string, args ...any) { l("testcontainers: "+format, args...) }
