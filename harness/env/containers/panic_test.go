package containers_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/containers"
)

// childEnv selects how TestPanicChild dies: "test" panics in the test
// goroutine (Go runs the tb.Cleanup functions first), "goroutine" panics
// in another goroutine (the process dies at once, no cleanup runs).
const childEnv = "PIPECHAOS_CONTAINERS_PANIC_CHILD"

// TestPanicChild is the subprocess of TestPanicLeavesNothing.
func TestPanicChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("runs only as the subprocess of TestPanicLeavesNothing")
	}
	e := newEnv(t, 1)
	cl, err := e.Region(env.Primary).Client(kgo.DefaultProduceTopic("t"))
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, e.Region(env.Primary).CreateTopic(context.Background(), "t", 1))
	require.NoError(t, produce(context.Background(), cl, "before-panic", 20*time.Second))
	if mode == "goroutine" {
		done := make(chan struct{})
		go func() { panic("pipechaos-panic-child: mid-scenario, outside the test goroutine") }()
		<-done
	}
	panic("pipechaos-panic-child: mid-scenario")
}

// TestPanicLeavesNothing runs a test binary that starts an environment and
// panics, and proves nothing labelled pipechaos survives it: a panic in
// the test goroutine cleans up in the child itself (tb.Cleanup runs on
// panic); a crash that skips cleanup leaves containers whose owner is dead,
// and Sweep (which New and this package's TestMain also run) removes them.
func TestPanicLeavesNothing(t *testing.T) {
	containers.RequireAvailable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, mode := range []string{"test", "goroutine"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestPanicChild$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), childEnv+"="+mode)
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "child must die of its panic:\n%s", out)
			require.Contains(t, string(out), "panic: pipechaos-panic-child")
			require.Contains(t, string(out), "environment", "child must have started an environment:\n%s", out)
			pid := strconv.Itoa(cmd.Process.Pid)

			left := owned(ctx, t, pid)
			if mode == "test" {
				require.Empty(t, left, "cleanup on panic must remove everything")
				return
			}
			require.NotEmpty(t, left, "a crash without cleanup leaves containers behind (else this test proves nothing)")
			removed, err := containers.Sweep(ctx, false)
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(removed), len(left))
			require.Empty(t, owned(ctx, t, pid), "sweep must remove what the crashed process left")
		})
	}
}

// owned lists pipechaos containers and networks of process pid.
func owned(ctx context.Context, t *testing.T, pid string) []string {
	rs, err := containers.List(ctx)
	require.NoError(t, err)
	var names []string
	for _, r := range rs {
		if r.Labels[containers.LabelPID] == pid {
			names = append(names, r.Kind+" "+r.Name)
		}
	}
	return names
}
