package containers

import (
	"context"
	"fmt"
	"io"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/pipechaos/pipechaos/harness/env"
)

// Sidecar is a system under test run as a black-box container next to an
// environment of this backend (e.g. pipechaos/s3sink). It uses the host
// network, so every address of the environment (127.0.0.1 brokers, the
// registry and store fault layers) works in it unchanged. It is labelled
// and removed with the environment.
type Sidecar struct {
	p *proc
}

// SidecarSpec describes a sidecar container.
type SidecarSpec struct {
	// Role names it (label pipechaos.role and the container name).
	Role string
	// Image must be present locally; it is never pulled.
	Image string
	// Env and Cmd are passed to the container.
	Env map[string]string
	Cmd []string
	// Ready is a readiness strategy; nil means "started".
	Ready wait.Strategy
}

// RunSidecar starts spec next to e, which must come from this backend.
func RunSidecar(ctx context.Context, e env.Environment, spec SidecarSpec) (*Sidecar, error) {
	ce, ok := e.(*environment)
	if !ok {
		return nil, fmt.Errorf("sidecar containers on the %s backend: %w", e.Backend(), env.ErrUnsupported)
	}
	if spec.Role == "" || spec.Image == "" {
		return nil, fmt.Errorf("sidecar needs a role and an image")
	}
	if err := ensureImages(ctx, ce.docker, spec.Image); err != nil {
		return nil, err
	}
	labels := map[string]string{LabelRole: spec.Role}
	for k, v := range ce.labels {
		labels[k] = v
	}
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithLogger(ce.logger),
		testcontainers.WithLabels(labels),
		testcontainers.WithName("pipechaos-" + ce.session + "-" + spec.Role),
		testcontainers.WithEnv(spec.Env),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.NetworkMode = "host" }),
	}
	if len(spec.Cmd) > 0 {
		opts = append(opts, testcontainers.WithCmd(spec.Cmd...))
	}
	if spec.Ready != nil {
		opts = append(opts, testcontainers.WithWaitStrategy(spec.Ready))
	}
	ctr, err := testcontainers.Run(ctx, spec.Image, opts...)
	p, err := ce.track(spec.Role, nil, ctr, err)
	if err != nil {
		return nil, err
	}
	return &Sidecar{p: p}, nil
}

// Stop stops it gracefully (SIGTERM); Start starts it again.
func (s *Sidecar) Stop(ctx context.Context) error  { return s.p.stop(ctx) }
func (s *Sidecar) Start(ctx context.Context) error { return s.p.start(ctx) }

// Kill sends SIGKILL; Pause and Unpause freeze and thaw it.
func (s *Sidecar) Kill(ctx context.Context) error    { return s.p.kill(ctx) }
func (s *Sidecar) Pause(ctx context.Context) error   { return s.p.pause(ctx) }
func (s *Sidecar) Unpause(ctx context.Context) error { return s.p.unpause(ctx) }

// Logs returns its output so far.
func (s *Sidecar) Logs(ctx context.Context) (io.ReadCloser, error) { return s.p.ctr.Logs(ctx) }

// Running reports whether the process is still up (a crashed connector
// is a finding, not a harness error).
func (s *Sidecar) Running(ctx context.Context) (bool, error) {
	running, _, err := s.p.state(ctx)
	return running, err
}
