package containers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// ProcessFaults are the process-level faults of a container backend:
// kill -9, pause and network partition. Regions, the registry and the
// store of this backend implement it (for a region: all its containers).
// Start (Region.Start, Store.Start, Registry's Start) heals a Kill.
type ProcessFaults interface {
	// Kill sends SIGKILL: no shutdown, no flush. Start brings it back.
	Kill(ctx context.Context) error
	// Pause freezes the processes (docker pause): connections stay open
	// and hang. Unpause thaws them.
	Pause(ctx context.Context) error
	Unpause(ctx context.Context) error
	// Disconnect cuts the container off every network, including the
	// published ports the host reaches it on (docker network
	// disconnect); Connect plugs it back in.
	Disconnect(ctx context.Context) error
	Connect(ctx context.Context) error
}

// proc is one container and the Docker operations faults need.
type proc struct {
	e       *environment
	role    string
	aliases []string
	ctr     *testcontainers.DockerContainer

	mu           sync.Mutex
	disconnected bool
	peerSplit    bool // official Kafka: IsolateFromPeers' rules are in place
	peerPID      int  // in the network namespace of this process
}

func (p *proc) id() string { return p.ctr.GetContainerID() }

func (p *proc) state(ctx context.Context) (running, paused bool, err error) {
	res, err := p.e.docker.ContainerInspect(ctx, p.id(), client.ContainerInspectOptions{})
	if err != nil {
		return false, false, fmt.Errorf("inspect %s: %w", p.role, err)
	}
	st := res.Container.State
	return st.Running, st.Paused, nil
}

// stop stops the container gracefully (SIGTERM, then SIGKILL after 10s).
// Stopping a stopped container does nothing.
func (p *proc) stop(ctx context.Context) error {
	if err := p.unpause(ctx); err != nil {
		return err
	}
	timeout := 10 * time.Second
	if err := p.ctr.Stop(ctx, &timeout); err != nil {
		return fmt.Errorf("stop %s: %w", p.role, err)
	}
	return nil
}

// start starts a stopped or killed container and waits for readiness;
// it also thaws a paused one and reconnects a disconnected one.
func (p *proc) start(ctx context.Context) error {
	if err := p.unpause(ctx); err != nil {
		return err
	}
	if err := p.connect(ctx); err != nil {
		return err
	}
	running, _, err := p.state(ctx)
	if err != nil || running {
		return err
	}
	if err := p.ctr.Start(ctx); err != nil {
		return fmt.Errorf("start %s: %w", p.role, err)
	}
	return nil
}

func (p *proc) kill(ctx context.Context) error {
	if err := p.unpause(ctx); err != nil {
		return err
	}
	running, _, err := p.state(ctx)
	if err != nil || !running {
		return err
	}
	if _, err := p.e.docker.ContainerKill(ctx, p.id(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return fmt.Errorf("kill %s: %w", p.role, err)
	}
	// Poll until the engine reports it gone, so a Start right after
	// does not race the kill.
	for {
		running, _, err := p.state(ctx)
		if err != nil || !running {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kill %s: %w", p.role, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (p *proc) pause(ctx context.Context) error {
	running, paused, err := p.state(ctx)
	if err != nil || !running || paused {
		return err
	}
	if _, err := p.e.docker.ContainerPause(ctx, p.id(), client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause %s: %w", p.role, err)
	}
	return nil
}

func (p *proc) unpause(ctx context.Context) error {
	_, paused, err := p.state(ctx)
	if err != nil || !paused {
		return err
	}
	if _, err := p.e.docker.ContainerUnpause(ctx, p.id(), client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("unpause %s: %w", p.role, err)
	}
	return nil
}

func (p *proc) disconnect(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.disconnected {
		return nil
	}
	if _, err := p.e.docker.NetworkDisconnect(ctx, p.e.net.ID, client.NetworkDisconnectOptions{Container: p.id(), Force: true}); err != nil {
		return fmt.Errorf("disconnect %s: %w", p.role, err)
	}
	p.disconnected = true
	return nil
}

func (p *proc) connect(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.disconnected {
		return nil
	}
	if _, err := p.e.docker.NetworkConnect(ctx, p.e.net.ID, client.NetworkConnectOptions{
		Container:      p.id(),
		EndpointConfig: &network.EndpointSettings{Aliases: p.aliases},
	}); err != nil {
		return fmt.Errorf("connect %s: %w", p.role, err)
	}
	p.disconnected = false
	return nil
}

// procs applies one operation to several containers concurrently.
type procs []*proc

func (ps procs) each(ctx context.Context, fn func(*proc, context.Context) error) error {
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() { errs[i] = fn(p, ctx) })
	}
	wg.Wait()
	return joinErrs(errs)
}

func (ps procs) Kill(ctx context.Context) error       { return ps.each(ctx, (*proc).kill) }
func (ps procs) Pause(ctx context.Context) error      { return ps.each(ctx, (*proc).pause) }
func (ps procs) Unpause(ctx context.Context) error    { return ps.each(ctx, (*proc).unpause) }
func (ps procs) Disconnect(ctx context.Context) error { return ps.each(ctx, (*proc).disconnect) }
func (ps procs) Connect(ctx context.Context) error    { return ps.each(ctx, (*proc).connect) }
