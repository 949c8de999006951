package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Labels every pipechaos container and network carries.
const (
	LabelManaged = "pipechaos.managed" // "true"
	LabelSession = "pipechaos.session" // one per environment
	LabelHost    = "pipechaos.owner.host"
	LabelPID     = "pipechaos.owner.pid"
	LabelRole    = "pipechaos.role" // kafka-primary-0, registry, minio, ...
)

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

func ownerLabels(session string) map[string]string {
	return map[string]string{
		LabelManaged: "true",
		LabelSession: session,
		LabelHost:    hostname(),
		LabelPID:     strconv.Itoa(os.Getpid()),
	}
}

// disableRyuk sets TESTCONTAINERS_RYUK_DISABLED=true: the Ryuk image
// cannot be pulled here, and pipechaos cleans up itself. Another value is
// an error rather than a silent pull attempt.
func disableRyuk() error {
	const name = "TESTCONTAINERS_RYUK_DISABLED"
	switch v, ok := os.LookupEnv(name); {
	case !ok || v == "":
		return os.Setenv(name, "true")
	case v == "true":
		return nil
	default:
		return fmt.Errorf("%s=%q: the containers backend needs exactly %s=true (Ryuk cannot be pulled; pipechaos removes its containers itself)", name, v, name)
	}
}

// dockerClient connects to the engine testcontainers uses and pings it.
func dockerClient(ctx context.Context) (*testcontainers.DockerClient, error) {
	if err := disableRyuk(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pingDockerHost(ctx); err != nil {
		return nil, dockerUnavailable(err)
	}
	cli, err := newDockerClient(ctx)
	if err != nil {
		return nil, dockerUnavailable(err)
	}
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		cli.Close()
		return nil, dockerUnavailable(err)
	}
	return cli, nil
}

// pingDockerHost checks an explicit DOCKER_HOST answers: testcontainers
// would quietly fall back to another engine (the default socket), which
// is not what a user who set DOCKER_HOST asked for.
func pingDockerHost(ctx context.Context) error {
	if os.Getenv("DOCKER_HOST") == "" {
		return nil
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return fmt.Errorf("DOCKER_HOST=%s: %w", os.Getenv("DOCKER_HOST"), err)
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("DOCKER_HOST=%s: %w", os.Getenv("DOCKER_HOST"), err)
	}
	return nil
}

// newDockerClient recovers from the panics a missing engine can cause in
// testcontainers' host discovery.
func newDockerClient(ctx context.Context) (cli *testcontainers.DockerClient, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return testcontainers.NewDockerClientWithOpts(ctx)
}

// ErrDockerUnavailable is wrapped by every error about a missing or
// unhealthy Docker engine.
var ErrDockerUnavailable = errors.New("docker engine unavailable")

func dockerUnavailable(err error) error {
	return fmt.Errorf("containers backend: %w: %v\n"+
		"  start the Docker engine (or point DOCKER_HOST at one; `docker info` must succeed),\n"+
		"  or run on the embedded backend: unset PIPECHAOS_BACKEND or set PIPECHAOS_BACKEND=embedded", ErrDockerUnavailable, err)
}

// Available returns nil when Docker answers and every image of cfg is
// present locally; otherwise an error that says what to do.
func Available(ctx context.Context, opts ...Opt) error {
	cfg, err := NewConfig(opts...)
	if err != nil {
		return err
	}
	cli, err := dockerClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	return ensureImages(ctx, cli, cfg.KafkaImage, cfg.RegistryImage, cfg.MinIOImage)
}

// RequireAvailable skips tb with the reason when the backend cannot run
// here (no Docker, images not built), or fails it when $CI is "true":
// in CI a container test must not pass by skipping.
func RequireAvailable(tb testing.TB, opts ...Opt) {
	tb.Helper()
	if err := Available(context.Background(), opts...); err != nil {
		// .ci/run sets this when it tried to start an engine and could not:
		// the reason is stated once there, the tests skip with it.
		if why := os.Getenv("PIPECHAOS_DOCKER_UNAVAILABLE"); why != "" {
			tb.Skipf("containers backend not exercised: %s", why)
		}
		if os.Getenv("CI") == "true" {
			tb.Fatalf("containers backend unavailable in CI: %v", err)
		}
		tb.Skipf("containers backend unavailable (set CI=true to fail instead): %v", err)
	}
}

// Sweep removes pipechaos containers and networks left behind by crashed
// runs: those whose owner process (label pipechaos.owner.pid on this
// host) no longer exists. With all, it removes every pipechaos container
// and network, live owners included. It returns what it removed.
func Sweep(ctx context.Context, all bool) ([]string, error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	return sweep(ctx, cli, func(labels map[string]string) bool {
		return all || ownerDead(labels)
	})
}

// SweepSession removes the containers and networks of one environment.
func sweepSession(ctx context.Context, cli client.APIClient, session string) ([]string, error) {
	return sweep(ctx, cli, func(labels map[string]string) bool { return labels[LabelSession] == session })
}

func ownerDead(labels map[string]string) bool {
	if labels[LabelHost] != hostname() {
		return false // another machine sharing the engine: not ours to judge
	}
	pid, err := strconv.Atoi(labels[LabelPID])
	if err != nil || pid <= 0 {
		return true
	}
	err = syscall.Kill(pid, 0)
	return err != nil && !errors.Is(err, syscall.EPERM)
}

// Resource is one pipechaos container or network.
type Resource struct {
	Kind   string // "container" or "network"
	ID     string
	Name   string
	Labels map[string]string
}

// List returns every container (running or not) and network carrying the
// pipechaos.managed=true label.
func List(ctx context.Context) ([]Resource, error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	f := client.Filters{}.Add("label", LabelManaged+"=true")
	ctrs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var rs []Resource
	for _, c := range ctrs.Items {
		name := ""
		if len(c.Names) > 0 {
			name = c.Names[0]
		}
		rs = append(rs, Resource{Kind: "container", ID: c.ID, Name: name, Labels: c.Labels})
	}
	nets, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets.Items {
		rs = append(rs, Resource{Kind: "network", ID: n.ID, Name: n.Name, Labels: n.Labels})
	}
	return rs, nil
}

func sweep(ctx context.Context, cli client.APIClient, match func(map[string]string) bool) ([]string, error) {
	f := client.Filters{}.Add("label", LabelManaged+"=true")
	ctrs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var removed []string
	var errs []error
	for _, c := range ctrs.Items {
		if !match(c.Labels) {
			continue
		}
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", c.ID[:12], err))
			continue
		}
		removed = append(removed, "container "+c.ID[:12]+" "+c.Labels[LabelRole])
	}
	nets, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return removed, errors.Join(append(errs, fmt.Errorf("list networks: %w", err))...)
	}
	for _, n := range nets.Items {
		if !match(n.Labels) {
			continue
		}
		if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		removed = append(removed, "network "+n.Name)
	}
	return removed, errors.Join(errs...)
}

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }
