// Package backends opens an environment on the backend the options (or
// $PIPECHAOS_BACKEND) select. Scenarios and the CLI use it; it is the one
// place that knows every backend.
package backends

import (
	"os"
	"testing"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/containers"
	"github.com/pipechaos/pipechaos/harness/env/embedded"
	"github.com/pipechaos/pipechaos/harness/env/nodes"
)

// New opens an environment for a test; teardown is registered with
// tb.Cleanup. On the nodes backend the tests of one process share one
// environment (six JVMs take a minute to start), reset between tests;
// PIPECHAOS_NODES_FRESH=1 gives every test its own, and CloseShared (from
// TestMain) closes the shared one. A containers backend that cannot run (no Docker) skips the test
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
		if os.Getenv("PIPECHAOS_NODES_FRESH") != "" {
			e, err = nodes.New(tb, cfg)
		} else {
			e, err = nodes.Shared(tb, cfg)
		}
	default:
		e, err = embedded.New(tb, cfg)
	}
	if err != nil {
		tb.Fatalf("start %s environment: %v", cfg.Backend, err)
	}
	return e
}

// CloseShared closes the environment the nodes backend shares between
// the tests of this process, if one was started. Call it from TestMain
// after the tests ran.
func CloseShared() error { return nodes.CloseShared() }
