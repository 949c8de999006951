package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/embedded"
)

// errContainersCLI: harness/env/backends only opens a containers
// environment for a test (backends.New(tb)); there is no Open(cfg) for a
// program yet.
var errContainersCLI = errors.New("containers backend: not available from the CLI yet: use --backend embedded, or run the scenarios with `PIPECHAOS_BACKEND=containers go test ./scenarios/...`")

// resolveBackend applies the default ($PIPECHAOS_BACKEND, else embedded)
// and checks the name.
func resolveBackend(flagValue string) (string, error) {
	b := flagValue
	if b == "" {
		b = os.Getenv("PIPECHAOS_BACKEND")
	}
	switch b {
	case "":
		return env.Embedded, nil
	case env.Embedded, env.Containers:
		return b, nil
	}
	if flagValue == "" {
		return "", fmt.Errorf("PIPECHAOS_BACKEND=%q: use embedded or containers", b)
	}
	return "", fmt.Errorf("--backend %q: use embedded or containers", b)
}

// openEnv starts an environment outside a test. The caller calls the
// returned close function.
func openEnv(backend string, brokers int, logf func(string, ...any)) (env.Environment, func() error, error) {
	opts := []env.Opt{env.Logf(logf)}
	if backend != "" {
		opts = append(opts, env.Backend(backend))
	}
	if brokers > 0 {
		opts = append(opts, env.BrokersPerRegion(brokers))
	}
	cfg, err := env.NewConfig(opts...)
	if err != nil {
		return nil, nil, err
	}
	switch cfg.Backend {
	case env.Containers:
		return nil, nil, errContainersCLI
	case env.Embedded:
		e, err := embedded.Start(cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("start embedded environment: %w", err)
		}
		return e, e.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown backend %q", cfg.Backend)
}
