package containers_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/containers"
)

const unavailableEnv = "PIPECHAOS_CONTAINERS_UNAVAILABLE_CHILD"

// TestUnavailableChild is the subprocess of TestDockerUnavailable; it runs
// with DOCKER_HOST pointing at nothing.
func TestUnavailableChild(t *testing.T) {
	switch os.Getenv(unavailableEnv) {
	case "":
		t.Skip("runs only as the subprocess of TestDockerUnavailable")
	case "new":
		cfg, err := env.NewConfig(env.Backend(env.Containers))
		require.NoError(t, err)
		_, err = containers.New(t, cfg)
		require.ErrorIs(t, err, containers.ErrDockerUnavailable)
		t.Log(err)
	case "require":
		containers.RequireAvailable(t)
		t.Fatal("RequireAvailable returned without a Docker engine")
	}
}

// TestDockerUnavailable: without an engine New fails with a message naming
// what to do; a container test skips with the reason, or fails when
// CI=true.
func TestDockerUnavailable(t *testing.T) {
	if os.Getenv(unavailableEnv) != "" || os.Getenv(childEnv) != "" {
		t.Skip("parent only")
	}
	run := func(mode string, extra ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestUnavailableChild$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), unavailableEnv+"="+mode, "DOCKER_HOST=unix:///nonexistent/docker.sock", "TESTCONTAINERS_HOST_OVERRIDE=")
		cmd.Env = append(cmd.Env, extra...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := run("new")
	require.NoError(t, err, out)
	require.Contains(t, out, "docker engine unavailable")
	require.Contains(t, out, "start the Docker engine")
	require.Contains(t, out, "PIPECHAOS_BACKEND=embedded")

	out, err = run("require", "CI=")
	require.NoError(t, err, out)
	require.Contains(t, out, "--- SKIP: TestUnavailableChild")
	require.Contains(t, out, "set CI=true to fail instead")

	out, err = run("require", "CI=true")
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "with CI=true the test must fail:\n%s", out)
	require.Contains(t, out, "--- FAIL: TestUnavailableChild")
	require.Contains(t, out, "containers backend unavailable in CI")
}
