package sut

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Sink is a sink process seen as a connectors.Sink: Run starts the process
// and waits for it to end; Close stops it (SIGTERM, then SIGKILL). A sink
// killed by the harness (Kill) makes Run return ErrKilled, so that a
// restart policy can tell a kill from a clean stop. The process itself is
// at Process, for the faults: Kill, Pause, Resume, Restart, PeakRSS.
type Sink struct {
	spec Spec
	// Logf, if set, is told when the process starts and how it ended.
	Logf func(format string, args ...any)

	mu      sync.Mutex
	proc    *Process
	closed  bool
	started chan struct{} // closed once Run started the process or gave up
	once    sync.Once
}

// ErrKilled is what Run returns when the harness killed the process.
var ErrKilled = errors.New("the sink process was killed by the harness")

// NewSink returns the sink process of spec; nothing runs before Run.
func NewSink(spec Spec) (*Sink, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	return &Sink{spec: spec, started: make(chan struct{})}, nil
}

// Run starts the process and waits until it ends or ctx ends (then it is
// stopped). It returns nil when it was stopped by Close or ctx, ErrKilled
// after Kill, and an error naming how it ended and its log otherwise.
func (s *Sink) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.once.Do(func() { close(s.started) })
		return nil
	}
	if s.proc != nil {
		s.mu.Unlock()
		return errors.New("sink process: Run called twice")
	}
	p, err := Start(ctx, s.spec)
	if err != nil {
		s.mu.Unlock()
		s.once.Do(func() { close(s.started) })
		return err
	}
	s.proc = p
	s.mu.Unlock()
	s.once.Do(func() { close(s.started) })
	s.logf("sink process %s started (pid %d, log %s)", p.Name(), p.PID(), p.LogPath())
	select {
	case <-p.Done():
	case <-ctx.Done():
		_, _ = p.Stop(context.WithoutCancel(ctx))
	}
	ex, _ := p.Wait(context.WithoutCancel(ctx))
	s.logf("sink process %s %s", p.Name(), ex)
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	switch {
	case ex.ByHarness && ex.Signal == "killed" && !closed:
		return ErrKilled
	case ex.ByHarness || closed || ctx.Err() != nil:
		return nil
	case ex.Code == 0:
		return nil
	}
	return fmt.Errorf("sink process %s %s; last lines of %s:\n%s", p.Name(), ex, p.LogPath(), p.Tail(15))
}

// Process is the running process (nil before Run started it). It waits
// for Run to have started it, or failed to.
func (s *Sink) Process() *Process {
	<-s.started
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// Kill kills the process with SIGKILL; Run returns ErrKilled.
func (s *Sink) Kill() error {
	if p := s.Process(); p != nil {
		return p.Kill()
	}
	return ErrNotRunning
}

// Close stops the process (SIGTERM; SIGKILL after the grace period) and
// releases it. Idempotent; a Close before Run makes Run return nil.
func (s *Sink) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		s.once.Do(func() { close(s.started) })
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopGrace)
	defer cancel()
	_, _ = p.Stop(ctx)
	_ = p.Close()
}

func (s *Sink) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}
