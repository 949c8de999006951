package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/pipechaos/pipechaos/fakes/httpfault"
)

// srfakeMaxBody is how much of a schema body srfake itself reads.
const srfakeMaxBody = 1 << 20

// Opt configures a registry.
type Opt func(*config)

type config struct {
	compat  sr.CompatibilityLevel
	maxBody int64
	seed    int64
}

func defaults() config {
	return config{compat: sr.CompatBackward, maxBody: srfakeMaxBody, seed: 1}
}

// Compatibility sets the global compatibility level: NONE, BACKWARD,
// BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE.
// Subjects may override it through PUT /config/{subject}. Default BACKWARD,
// like Confluent's registry.
func Compatibility(level sr.CompatibilityLevel) Opt {
	return func(c *config) { c.compat = level }
}

// MaxBodyBytes bounds every request body; a larger body is answered 413 and
// the registry keeps serving. Default 1 MiB, which is also the most it can
// be: srfake reads at most 1 MiB of a schema.
func MaxBodyBytes(n int64) Opt {
	return func(c *config) { c.maxBody = n }
}

// FaultSeed seeds the fault layer's probability draw (New only).
// Default 1.
func FaultSeed(seed int64) Opt {
	return func(c *config) { c.seed = seed }
}

func (c *config) validate() error {
	var problems []string
	if c.compat.String() == "" {
		problems = append(problems, fmt.Sprintf("compatibility level %d is not one of %s", int(c.compat), levelNames))
	}
	if c.maxBody <= 0 {
		problems = append(problems, "max body bytes must be positive")
	}
	if c.maxBody > srfakeMaxBody {
		problems = append(problems, fmt.Sprintf("max body bytes cannot exceed %d, since srfake reads at most that much of a schema", srfakeMaxBody))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// NewHandler returns the registry as a bare handler, with no fault layer and
// no server: serve it on your own listener (the standalone main does).
func NewHandler(opts ...Opt) (http.Handler, error) {
	h, _, err := newHandler(opts)
	if err != nil {
		return nil, err
	}
	return h, nil
}

func newHandler(opts []Opt) (*handler, config, error) {
	c := defaults()
	for _, o := range opts {
		o(&c)
	}
	if err := c.validate(); err != nil {
		return nil, c, fmt.Errorf("configure registry: %w", err)
	}
	fake := srfake.NewRegistry(srfake.WithGlobalCompat(c.compat))
	return newEnforcer(fake, c.maxBody), c, nil
}

// Registry is a running registry on 127.0.0.1 behind an HTTP fault layer.
type Registry struct {
	layer *httpfault.Layer
	srv   *httpfault.Server

	closeOnce sync.Once
	closeErr  error
}

// New starts a registry on a free port of 127.0.0.1 behind an
// httpfault.Layer that answers faults as Confluent JSON errors.
func New(opts ...Opt) (*Registry, error) {
	h, c, err := newHandler(opts)
	if err != nil {
		return nil, err
	}
	layer := httpfault.New(h, httpfault.Seed(c.seed), httpfault.ErrorBody(httpfault.RegistryErrorBody))
	srv, err := httpfault.Serve(layer, "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	return &Registry{layer: layer, srv: srv}, nil
}

// URL is the registry's base URL, e.g. "http://127.0.0.1:40123".
func (r *Registry) URL() string { return r.srv.URL() }

// Faults controls the registry's fault layer: latency, 503s, a share of
// failed requests, hangs, dropped connections.
func (r *Registry) Faults() *httpfault.Layer { return r.layer }

// Stop takes the registry down: live connections are closed and new ones
// refused until Start. The schemas are kept. Stop returns once the requests
// in flight have been cut off; ctx is not needed for that.
func (r *Registry) Stop(context.Context) error { return r.srv.Stop() }

// Start brings a stopped registry back on the same address.
func (r *Registry) Start(context.Context) error { return r.srv.Start() }

// Close shuts the registry down for good. It is idempotent.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() { r.closeErr = r.srv.Close() })
	return r.closeErr
}
