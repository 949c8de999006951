package main

import (
	"context"
	"fmt"
	"os"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/embedded"
)

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
func openEnv(ctx context.Context, backend string, brokers int, logf func(string, ...any)) (env.Environment, func() error, error) {
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
		return startContainers(ctx, cfg)
	case env.Embedded:
		e, err := embedded.Start(cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("start embedded environment: %w", err)
		}
		return e, e.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown backend %q", cfg.Backend)
}
