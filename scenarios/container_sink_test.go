package scenarios_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/backends"
	"github.com/pipechaos/pipechaos/harness/env/containers"
	"github.com/pipechaos/pipechaos/scenarios"
)

// TestContainerSinkConformance tests a connector the way a team tests its
// own connector image: pipechaos/s3sink:dev runs as a black-box container
// beside the containers backend's Kafka, registry and MinIO, knowing only
// their addresses, and the conformance scenarios judge what it left in the
// bucket. It needs Docker and `make images`; without them it skips with the
// reason, or fails when CI=true.
func TestContainerSinkConformance(t *testing.T) {
	e := backends.New(t, env.Backend(env.Containers))
	scenarios.SinkConformanceIn(t, e, func(a connectors.Addresses, name string) (connectors.Sink, error) {
		return &containerSink{e: e, a: a, name: name, stopped: make(chan struct{})}, nil
	}, scenarios.InOrder(), scenarios.Only("baseline", "broker-crash")) // a container is no child process: no kill -9 or RSS here
}

// containerSink runs pipechaos-s3sink in a container for as long as Run.
type containerSink struct {
	e       env.Environment
	a       connectors.Addresses
	name    string
	once    sync.Once
	stopped chan struct{}
}

func (s *containerSink) Run(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	sc, err := containers.RunSidecar(ctx, s.e, containers.SidecarSpec{
		Role:  "s3sink-" + s.name + "-" + s.a.Topic,
		Image: "pipechaos/s3sink:dev",
		Env: map[string]string{
			"PIPECHAOS_SINK_BROKERS":         strings.Join(s.a.Brokers, ","),
			"PIPECHAOS_SINK_TOPIC":           s.a.Topic,
			"PIPECHAOS_SINK_GROUP":           s.a.Group,
			"PIPECHAOS_SINK_REGISTRY_URL":    s.a.RegistryURL,
			"PIPECHAOS_SINK_S3_ENDPOINT":     s.a.S3Endpoint,
			"PIPECHAOS_SINK_S3_ACCESS_KEY":   s.a.S3AccessKey,
			"PIPECHAOS_SINK_S3_SECRET_KEY":   s.a.S3SecretKey,
			"PIPECHAOS_SINK_BUCKET":          s.a.Bucket,
			"PIPECHAOS_SINK_ROTATE_INTERVAL": "250ms",
			"PIPECHAOS_SINK_LISTEN":          listen,
		},
		Ready: wait.ForLog("sinking").WithStartupTimeout(30 * time.Second),
	})
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.stopped:
	}
	// SIGTERM: the sink flushes what it holds and exits.
	stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return sc.Stop(stop)
}

func (s *containerSink) Close() { s.once.Do(func() { close(s.stopped) }) }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
