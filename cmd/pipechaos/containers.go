package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/containers"
)

// startContainers starts the containers backend from a program.
//
// containers.New only takes a testing.TB: it calls Helper, registers its
// teardown with Cleanup (before anything starts, so a failed start is
// still removed) and reports a failed teardown with Errorf. programTB is
// those three outside a test; the returned close function runs the
// cleanups. What the package would need for this adapter to go away:
//
//	containers.Start(cfg env.Config, opts ...Opt) (env.Environment, error)
//
// returning an environment whose Close removes everything (even after a
// failed start: a non-nil environment with the error, or a Close that the
// error path has already run).
func startContainers(ctx context.Context, cfg env.Config) (env.Environment, func() error, error) {
	// testcontainers' own messages (its multi-line "Connected to docker"
	// banner) become progress lines like the backend's.
	tclog.SetDefault(progressLogger(cfg.Logf))
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	err := containers.Available(actx)
	cancel()
	if err != nil {
		return nil, nil, containersUnavailable(err)
	}
	tb := &programTB{}
	e, err := startWith(tb, cfg)
	if err != nil {
		if cerr := tb.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("remove what was started: %w", cerr))
		}
		return nil, nil, fmt.Errorf("start containers environment: %w", err)
	}
	return e, tb.close, nil
}

// startWith runs containers.New, turning a panic (a TB method this adapter
// does not provide, say) into an error.
func startWith(tb *programTB, cfg env.Config) (e env.Environment, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, fmt.Errorf("containers.New: %v", r)
		}
	}()
	return containers.New(tb, cfg)
}

// containersUnavailable says in one line what to do when Docker or the
// images are missing.
func containersUnavailable(err error) error {
	msg := strings.TrimPrefix(oneLine(err.Error()), "containers backend: ")
	if errors.Is(err, containers.ErrDockerUnavailable) {
		// The first line is the cause; the rest is advice, said here once.
		cause, _, _ := strings.Cut(err.Error(), "\n")
		cause = strings.TrimPrefix(cause, "containers backend: ")
		return fmt.Errorf("containers backend: Docker is not reachable: start the engine (`docker info` must succeed) or use --backend embedded (%s)", cause)
	}
	return fmt.Errorf("containers backend: %s; or use --backend embedded", msg)
}

// oneLine joins an error's indented lines ("…:\n  detail") into one.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	s = strings.Join(parts, "; ")
	return strings.ReplaceAll(s, ":; ", ": ")
}

type progressLogger func(format string, args ...any)

func (l progressLogger) Printf(format string, args ...any) {
	l("%s", oneLine(fmt.Sprintf(format, args...)))
}

// programTB is the part of testing.TB containers.New uses (Helper,
// Cleanup, Errorf) for a program. The embedded interface is nil: any other
// method panics, which startWith reports as an error.
type programTB struct {
	testing.TB

	mu       sync.Mutex
	cleanups []func()
	errs     []error
	closed   bool
}

func (*programTB) Helper() {}

func (t *programTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *programTB) Errorf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errs = append(t.errs, fmt.Errorf(format, args...))
}

// close runs the cleanups, last registered first, once, and returns what
// they reported with Errorf.
func (t *programTB) close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	fs := t.cleanups
	t.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return errors.Join(t.errs...)
}
