// Command pipechaos-registry serves the pipechaos schema registry (srfake
// plus Avro compatibility enforcement, see package registry) as a
// standalone process, for the containers backend: static, FROM-scratch
// friendly, configured by flags or environment, logs to stdout, ready when
// GET /healthz answers 200, shut down gracefully by SIGTERM.
//
//	pipechaos-registry -listen :8081 -compatibility BACKWARD
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/pipechaos/pipechaos/fakes/registry"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	if err := run(os.Args[1:], log); err != nil {
		log.Error("registry failed", "err", err)
		os.Exit(1)
	}
}

func run(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("pipechaos-registry", flag.ContinueOnError)
	fs.SetOutput(os.Stdout)
	listen := fs.String("listen", envOr("PIPECHAOS_REGISTRY_LISTEN", ":8081"), "listen address (env PIPECHAOS_REGISTRY_LISTEN)")
	compat := fs.String("compatibility", envOr("PIPECHAOS_REGISTRY_COMPATIBILITY", "BACKWARD"), "global compatibility level (env PIPECHAOS_REGISTRY_COMPATIBILITY)")
	maxBody := fs.Int64("max-body-bytes", 1<<20, "largest request body accepted")
	grace := fs.Duration("shutdown-timeout", 10*time.Second, "how long SIGTERM waits for requests in flight")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("parse flags: %w", err)
	}

	var level sr.CompatibilityLevel
	if err := level.UnmarshalText([]byte(*compat)); err != nil {
		return fmt.Errorf("parse compatibility level: %w", err)
	}
	h, err := registry.NewHandler(registry.Compatibility(level), registry.MaxBodyBytes(*maxBody))
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("registry listening", "addr", ln.Addr().String(), "compatibility", level.String())

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "reason", "signal")
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("shutdown complete")
	return nil
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}
