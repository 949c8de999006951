package containers

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/pipechaos/pipechaos/harness/env"
)

// TestPortTakenBeforeBindIsRetried: a host port picked free and taken by
// someone else before Docker binds it costs a retry, not a failed run, and
// leaves no container behind.
func TestPortTakenBeforeBindIsRetried(t *testing.T) {
	RequireAvailable(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	docker, err := dockerClient(ctx)
	require.NoError(t, err)
	e := &environment{cfg: env.Config{Logf: t.Logf}, docker: docker, session: newSession(), logger: logfLogger(t.Logf)}
	e.labels = ownerLabels(e.session)
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	nw, err := network.New(ctx, network.WithLabels(e.labels))
	require.NoError(t, err)
	e.net = nw
	e.closers = append(e.closers, func() error { return nw.Remove(context.Background()) })

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	attempt := 0
	p, err := retryPorts(func() (*proc, error) {
		attempt++
		port := taken.Addr().(*net.TCPAddr).Port
		if attempt > 1 {
			ps, err := freePorts(1)
			require.NoError(t, err)
			port = ps[0]
		}
		return e.run(ctx, "kafka-ports", FakeKafkaImage, []string{"kafka-ports"}, map[int]int{port: port},
			testcontainers.WithCmd("-ports", itoa(port), "-data-dir", ""),
			testcontainers.WithWaitStrategy(&kafkaReady{port: port, timeout: 30 * time.Second}))
	})
	require.NoError(t, err)
	require.Equal(t, 2, attempt)
	require.Len(t, e.procs, 1, "the container that could not bind was removed, not tracked")
	running, _, err := p.state(ctx)
	require.NoError(t, err)
	require.True(t, running)
}

func itoa(n int) string { return strconv.Itoa(n) }
