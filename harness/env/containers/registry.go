package containers

import (
	"context"
	"fmt"
	"net/url"

	"github.com/testcontainers/testcontainers-go"

	"github.com/pipechaos/pipechaos/fakes/httpfault"
	"github.com/pipechaos/pipechaos/harness/env"
)

// registryPort is the registry's port inside its container.
const registryPort = 8081

// registry is the schema registry container behind an HTTP fault layer.
type registry struct {
	proc     *proc
	layer    *httpfault.Layer
	srv      *httpfault.Server
	inMemory bool // pipechaos-registry: schemas die with the process
}

var (
	_ env.Registry  = (*registry)(nil)
	_ ProcessFaults = (*registry)(nil)
)

func (e *environment) startRegistry(ctx context.Context) (*registry, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	p, err := e.run(ctx, "registry", e.ccfg.RegistryImage, []string{"registry"},
		map[int]int{registryPort: ports[0]}, registryOpts(e, ports[0])...)
	if err != nil {
		return nil, err
	}
	layer, srv, err := e.faultProxy(ports[0], httpfault.ErrorBody(httpfault.RegistryErrorBody))
	if err != nil {
		return nil, err
	}
	return &registry{proc: p, layer: layer, srv: srv, inMemory: !officialRegistry(e.ccfg.RegistryImage)}, nil
}

func registryOpts(e *environment, hostPort int) []testcontainers.ContainerCustomizer {
	if officialRegistry(e.ccfg.RegistryImage) {
		var aliases []string
		for _, n := range e.regions[env.Primary].procs {
			aliases = append(aliases, n.aliases...)
		}
		return []testcontainers.ContainerCustomizer{
			testcontainers.WithEnv(cpSchemaRegistryEnv(aliases)),
			testcontainers.WithWaitStrategy(&httpReady{port: hostPort, path: "/subjects", timeout: e.ccfg.StartupTimeout}),
		}
	}
	return []testcontainers.ContainerCustomizer{
		testcontainers.WithCmd("-listen", fmt.Sprintf(":%d", registryPort)),
		testcontainers.WithWaitStrategy(&httpReady{port: hostPort, path: "/healthz", timeout: e.ccfg.StartupTimeout}),
	}
}

// faultProxy serves an httpfault reverse proxy on 127.0.0.1 in front of
// the container published on hostPort.
func (e *environment) faultProxy(hostPort int, opts ...httpfault.Opt) (*httpfault.Layer, *httpfault.Server, error) {
	target := &url.URL{Scheme: "http", Host: fmt.Sprintf("%s:%d", loopback, hostPort)}
	layer := httpfault.NewProxy(target, opts...)
	srv, err := httpfault.Serve(layer, "")
	if err != nil {
		return nil, nil, fmt.Errorf("serve fault proxy for %s: %w", target.Host, err)
	}
	e.addCloser(func() error {
		err := srv.Close()
		layer.CloseIdleConnections()
		return err
	})
	return layer, srv, nil
}

func (r *registry) URL() string                          { return r.srv.URL() }
func (r *registry) Faults() env.HTTPFaults               { return r.layer }
func (r *registry) Kill(ctx context.Context) error       { return r.proc.kill(ctx) }
func (r *registry) Pause(ctx context.Context) error      { return r.proc.pause(ctx) }
func (r *registry) Unpause(ctx context.Context) error    { return r.proc.unpause(ctx) }
func (r *registry) Disconnect(ctx context.Context) error { return r.proc.disconnect(ctx) }
func (r *registry) Connect(ctx context.Context) error    { return r.proc.connect(ctx) }

// Stop makes the registry unreachable: the fault layer's port refuses
// connections, like the embedded backend. Start brings it back on the same
// address with its schemas. The pipechaos registry keeps schemas in
// memory, so its container is frozen (docker pause), not stopped; an
// official registry keeps them in Kafka and is stopped for real. Kill
// (ProcessFaults) is the outage that loses in-memory schemas.
func (r *registry) Stop(ctx context.Context) error {
	if err := r.srv.Stop(); err != nil {
		return err
	}
	r.layer.CloseIdleConnections()
	if r.inMemory {
		return r.proc.pause(ctx)
	}
	return r.proc.stop(ctx)
}

// Start undoes Stop (and Kill, Pause, Disconnect).
func (r *registry) Start(ctx context.Context) error {
	if err := r.proc.start(ctx); err != nil {
		return err
	}
	return r.srv.Start()
}
