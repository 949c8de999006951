package explore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/harness/env"
)

// SUT is the system under test as the explorer drives it. A process-backed
// implementation kills with SIGKILL and pauses with SIGSTOP; InProcess runs
// a connectors.SinkFactory in this process.
type SUT interface {
	// Start starts the sink.
	Start(ctx context.Context) error
	// Kill stops it abruptly: no last flush, no commit.
	Kill(ctx context.Context) error
	// Stop stops it cleanly (its own Close).
	Stop(ctx context.Context) error
	// Restart starts it again after Kill or Stop; a running sink is left
	// alone.
	Restart(ctx context.Context) error
	// Pause freezes it and Resume thaws it; an SUT that cannot returns an
	// error wrapping env.ErrUnsupported (CanPause false).
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
	CanPause() bool
	// Join starts one more member of the sink's group; leave stops it.
	Join(ctx context.Context) (leave func(context.Context) error, err error)
	// Deaths is how many times an instance's Run ended on its own (an
	// error, a panic) and the restart policy started a new one.
	Deaths() int
	// Close stops everything for good.
	Close() error
}

// SUTFactory makes the SUT of one run from the addresses it must use.
type SUTFactory func(a connectors.Addresses, logf func(string, ...any)) (SUT, error)

// InProcess runs the sinks a factory builds in this process, under a restart
// policy (as Kafka Connect restarts a failed task): an instance whose Run
// returns on its own is replaced by a new one in the same group after 50ms.
func InProcess(f connectors.SinkFactory) SUTFactory {
	return func(a connectors.Addresses, logf func(string, ...any)) (SUT, error) {
		if f == nil {
			return nil, errors.New("explore: nil sink factory")
		}
		if logf == nil {
			logf = func(string, ...any) {}
		}
		return &inProcess{f: f, a: a, logf: logf}, nil
	}
}

type inProcess struct {
	f    connectors.SinkFactory
	a    connectors.Addresses
	logf func(string, ...any)

	mu      sync.Mutex
	main    *instance // nil while killed or stopped
	extra   []*instance
	n       int // instances built
	deaths  int
	closed  bool
	restart sync.WaitGroup // pending automatic restarts
}

type instance struct {
	s      connectors.Sink
	name   string
	done   chan struct{}
	err    error
	ending bool // Kill, Stop or Close asked it to end
}

func (p *inProcess) build() (*instance, error) {
	p.n++
	name := fmt.Sprintf("sut-%d", p.n)
	s, err := p.f(p.a, name)
	if err != nil {
		return nil, fmt.Errorf("build sink %s: %w", name, err)
	}
	return &instance{s: s, name: name, done: make(chan struct{})}, nil
}

// run runs in, and applies the restart policy when main ends on its own.
func (p *inProcess) run(in *instance, main bool) {
	go func() {
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return in.s.Run(context.Background())
		}()
		in.s.Close()
		p.mu.Lock()
		in.err = err
		ending := in.ending
		died := main && !ending && !p.closed && p.main == in
		if died {
			p.deaths++
			p.main = nil
			p.restart.Add(1)
		}
		p.mu.Unlock()
		close(in.done)
		if died {
			p.logf("the sink %s ended on its own (%v); the restart policy starts a new instance", in.name, err)
			go func() {
				defer p.restart.Done()
				time.Sleep(50 * time.Millisecond)
				_ = p.Restart(context.Background())
			}()
		}
	}()
}

func (p *inProcess) Start(ctx context.Context) error { return p.Restart(ctx) }

func (p *inProcess) Restart(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.main != nil {
		return nil
	}
	in, err := p.build()
	if err != nil {
		return err
	}
	p.main = in
	p.run(in, true)
	return nil
}

// end stops in (Close, which the in-process sinks make abrupt: buffers are
// abandoned, nothing more is committed) and waits for its Run to return.
func (p *inProcess) end(ctx context.Context, in *instance) error {
	p.mu.Lock()
	in.ending = true
	p.mu.Unlock()
	in.s.Close()
	select {
	case <-in.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sink %s did not stop: %w", in.name, ctx.Err())
	}
}

func (p *inProcess) takeMain() *instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := p.main
	p.main = nil
	return in
}

func (p *inProcess) Kill(ctx context.Context) error {
	in := p.takeMain()
	if in == nil {
		return nil
	}
	return p.end(ctx, in)
}

func (p *inProcess) Stop(ctx context.Context) error {
	in := p.takeMain()
	if in == nil {
		return nil
	}
	// A connectors.Sink has one way to stop, Close; a sink that flushes on
	// a clean stop does it there. In process, Stop and Kill differ only in
	// name: a process-backed SUT sends SIGTERM for Stop and SIGKILL for Kill.
	return p.end(ctx, in)
}

func (p *inProcess) CanPause() bool { return false }

func (p *inProcess) Pause(context.Context) error {
	return fmt.Errorf("freeze an in-process sink: %w", env.ErrUnsupported)
}

func (p *inProcess) Resume(context.Context) error { return nil }

func (p *inProcess) Join(context.Context) (func(context.Context) error, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errors.New("sut closed")
	}
	in, err := p.build()
	if err != nil {
		p.mu.Unlock()
		return nil, err
	}
	p.extra = append(p.extra, in)
	p.run(in, false)
	p.mu.Unlock()
	return func(ctx context.Context) error { return p.end(ctx, in) }, nil
}

func (p *inProcess) Deaths() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.deaths
}

func (p *inProcess) Close() error {
	p.mu.Lock()
	p.closed = true
	all := append([]*instance(nil), p.extra...)
	if p.main != nil {
		all = append(all, p.main)
		p.main = nil
	}
	p.mu.Unlock()
	p.restart.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, in := range all {
		errs = append(errs, p.end(ctx, in))
	}
	return errors.Join(errs...)
}
