// Package backends opens an environment on the backend the options (or
// $PIPECHAOS_BACKEND) select. Scenarios and the CLI use it; it is the one
// place that knows every backend.
package backends

import (
	"testing"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/containers"
	"github.com/pipechaos/pipechaos/harness/env/embedded"
	"github.com/pipechaos/pipechaos/harness/env/nodes"
)

// New opens an environment for a test; teardown is registered with
// tb.Cleanup. A containers backend that cannot run (no Docker) skips the test
// with the reason, or fails it when CI=true.
func New(tb testing.TB, opts ...env.Opt) env.Environment {
	tb.Helper()
	cfg, err := env.NewConfig(opts...)
	if err != nil {
		tb.Fatalf("environment options: %v", err)
	}
	var e env.Environment
	switch cfg.Backend {
	case env.Containers:
		containers.RequireAvailable(tb)
		e, err = containers.New(tb, cfg)
	case env.Nodes:
		e, err = nodes.New(tb, cfg)
	default:
		e, err = embedded.New(tb, cfg)
	}
	if err != nil {
		tb.Fatalf("start %s environment: %v", cfg.Backend, err)
	}
	return e
}
