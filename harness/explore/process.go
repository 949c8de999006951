package explore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/harness/sut"
)

// ProcessSpec makes the spec of one sink process (sut.ForCommand,
// sut.ForFactory, sut.InTest) from its addresses and a name unique in the
// run.
type ProcessSpec func(a connectors.Addresses, name string) (sut.Spec, error)

// Processes runs the sink as child processes (harness/sut): Kill is
// SIGKILL, Pause SIGSTOP, Resume SIGCONT, Stop SIGTERM; a member that joins
// is one more process. The restart policy is InProcess's: an instance that
// exits on its own (not by the harness's hand) is restarted after 50ms.
func Processes(spec ProcessSpec) SUTFactory {
	return func(a connectors.Addresses, logf func(string, ...any)) (SUT, error) {
		if spec == nil {
			return nil, errors.New("explore: nil process spec")
		}
		if logf == nil {
			logf = func(string, ...any) {}
		}
		return &processes{spec: spec, a: a, logf: logf}, nil
	}
}

type processes struct {
	spec ProcessSpec
	a    connectors.Addresses
	logf func(string, ...any)

	mu      sync.Mutex
	main    *sut.Process
	down    bool // main was killed or stopped by the harness and not restarted
	extra   []*sut.Process
	n       int
	deaths  int
	closed  bool
	watches sync.WaitGroup
}

func (p *processes) start(ctx context.Context) (*sut.Process, error) {
	p.n++
	name := fmt.Sprintf("sut-%d", p.n)
	spec, err := p.spec(p.a, name)
	if err != nil {
		return nil, err
	}
	proc, err := sut.Start(ctx, spec)
	if err != nil {
		return nil, err
	}
	p.logf("sink process %s started (pid %d, log %s)", name, proc.PID(), proc.LogPath())
	return proc, nil
}

// watch applies the restart policy to main's current instance.
func (p *processes) watch(proc *sut.Process) {
	done := proc.Done()
	p.watches.Add(1)
	go func() {
		defer p.watches.Done()
		<-done
		ex, _ := proc.Wait(context.Background())
		p.mu.Lock()
		died := !ex.ByHarness && !p.closed && p.main == proc && !p.down
		if died {
			p.deaths++
		}
		p.mu.Unlock()
		if !died {
			return
		}
		p.logf("the sink process %s %s; the restart policy starts it again", proc.Name(), ex)
		time.Sleep(50 * time.Millisecond)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			return
		}
		if err := proc.Restart(context.Background()); err != nil {
			p.logf("restart %s: %v", proc.Name(), err)
			return
		}
		p.watch(proc)
	}()
}

func (p *processes) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.main != nil {
		return nil
	}
	proc, err := p.start(ctx)
	if err != nil {
		return err
	}
	p.main = proc
	p.watch(proc)
	return nil
}

func (p *processes) Kill(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.main == nil || p.down {
		return nil
	}
	p.down = true
	if err := p.main.Kill(); err != nil && !errors.Is(err, sut.ErrNotRunning) {
		return err
	}
	return nil
}

func (p *processes) Stop(ctx context.Context) error {
	p.mu.Lock()
	if p.main == nil || p.down {
		p.mu.Unlock()
		return nil
	}
	p.down = true
	proc := p.main
	p.mu.Unlock()
	_, err := proc.Stop(ctx)
	return err
}

func (p *processes) Restart(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.main == nil || !p.down {
		return nil
	}
	if err := p.main.Restart(ctx); err != nil {
		return err
	}
	p.down = false
	p.watch(p.main)
	return nil
}

func (p *processes) CanPause() bool { return true }

func (p *processes) Pause(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.main == nil || p.down {
		return nil
	}
	return p.main.Pause()
}

func (p *processes) Resume(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.main == nil || p.down || !p.main.Paused() {
		return nil
	}
	return p.main.Resume()
}

func (p *processes) Join(ctx context.Context) (func(context.Context) error, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("sut closed")
	}
	proc, err := p.start(ctx)
	if err != nil {
		return nil, err
	}
	p.extra = append(p.extra, proc)
	return func(ctx context.Context) error {
		_, err := proc.Stop(ctx)
		return err
	}, nil
}

func (p *processes) Deaths() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.deaths
}

func (p *processes) Close() error {
	p.mu.Lock()
	p.closed = true
	all := append([]*sut.Process(nil), p.extra...)
	if p.main != nil {
		all = append(all, p.main)
	}
	p.mu.Unlock()
	var errs []error
	for _, proc := range all {
		errs = append(errs, proc.Close())
	}
	p.watches.Wait()
	return errors.Join(errs...)
}

// builtinFactories registers the built-in sinks so that a binary that calls
// sut.Main first (cmd/pipechaos does) can run them as its own child
// processes: BuiltinProcess.
var builtinFactories = func() map[string]string {
	out := map[string]string{}
	for _, name := range BuiltinSinks() {
		f, _ := BuiltinSink(name)
		out[name] = sut.Register("explore/"+name, f)
	}
	return out
}()

// BuiltinProcess runs a built-in sink as a child process of this binary
// (which must call sut.Main first thing in main or TestMain).
func BuiltinProcess(name string) (SUTFactory, error) {
	reg, ok := builtinFactories[name]
	if !ok {
		_, err := BuiltinSink(name)
		return nil, err
	}
	return Processes(func(a connectors.Addresses, n string) (sut.Spec, error) { return sut.ForFactory(reg, n, a) }), nil
}

// CommandProcess runs cmdline (through /bin/sh -c) as the sink: any
// program in any language that reads its addresses from the PIPECHAOS_*
// environment variables (see harness/sut).
func CommandProcess(cmdline string) SUTFactory {
	return Processes(func(a connectors.Addresses, n string) (sut.Spec, error) { return sut.ForCommand(cmdline, n, a), nil })
}
