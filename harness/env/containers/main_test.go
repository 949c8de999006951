package containers_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/harness/env/containers"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(sweepAfter{m}) }

// sweepAfter runs the tests, then removes leftovers of crashed child
// processes (TestPanicLeavesNothing) and of earlier crashed runs; this
// process's own environments are already gone through tb.Cleanup.
type sweepAfter struct{ m *testing.M }

func (s sweepAfter) Run() int {
	code := s.m.Run()
	if os.Getenv(childEnv) != "" {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if containers.Available(ctx) != nil {
		return code
	}
	if removed, err := containers.Sweep(ctx, false); err != nil || len(removed) > 0 {
		fmt.Fprintf(os.Stderr, "sweep after tests: removed %v, err %v\n", removed, err)
	}
	return code
}
