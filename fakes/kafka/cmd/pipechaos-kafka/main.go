// Command pipechaos-kafka runs one Kafka region: a kfake cluster of N
// brokers on N ports, with an HTTP control port for per-broker faults
// (see package fakes/kafka for the API). It is the entry point of the
// pipechaos/kafka image.
//
// Every flag has an environment variable; the flag wins.
//
//	-ports            PIPECHAOS_KAFKA_PORTS            broker ports, comma separated (default 9092; -brokers N → 9092..9092+N-1)
//	-brokers          PIPECHAOS_KAFKA_BROKERS          number of brokers when -ports is not given (default 1)
//	-listen-host      PIPECHAOS_KAFKA_LISTEN_HOST      interface brokers bind (default 0.0.0.0)
//	-advertised-host  PIPECHAOS_KAFKA_ADVERTISED_HOST  host in metadata (default 127.0.0.1)
//	-data-dir         PIPECHAOS_KAFKA_DATA_DIR         log directory, reloaded on start; "" keeps data in memory (default /data)
//	-control          PIPECHAOS_KAFKA_CONTROL          control API listen address (default :9644)
//	-cluster-id       PIPECHAOS_KAFKA_CLUSTER_ID       cluster ID in metadata (default pipechaos)
//	-log-level        PIPECHAOS_KAFKA_LOG_LEVEL        none|error|warn|info|debug (default warn)
//
// On SIGTERM or SIGINT the cluster persists its state and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pipechaos/pipechaos/fakes/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("pipechaos-kafka: ")
	if err := run(os.Args[1:]); err != nil {
		log.Fatal(err)
	}
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func run(args []string) error {
	fs := flag.NewFlagSet("pipechaos-kafka", flag.ContinueOnError)
	ports := fs.String("ports", env("PIPECHAOS_KAFKA_PORTS", ""), "broker ports, comma separated")
	brokers := fs.Int("brokers", atoi(env("PIPECHAOS_KAFKA_BROKERS", "1")), "number of brokers when -ports is empty")
	listenHost := fs.String("listen-host", env("PIPECHAOS_KAFKA_LISTEN_HOST", "0.0.0.0"), "interface brokers bind")
	advHost := fs.String("advertised-host", env("PIPECHAOS_KAFKA_ADVERTISED_HOST", "127.0.0.1"), "host advertised in metadata")
	dataDir := fs.String("data-dir", env("PIPECHAOS_KAFKA_DATA_DIR", "/data"), "log directory; empty keeps data in memory")
	control := fs.String("control", env("PIPECHAOS_KAFKA_CONTROL", ":9644"), "control API listen address")
	clusterID := fs.String("cluster-id", env("PIPECHAOS_KAFKA_CLUSTER_ID", "pipechaos"), "cluster ID")
	logLevel := fs.String("log-level", env("PIPECHAOS_KAFKA_LOG_LEVEL", "warn"), "none|error|warn|info|debug")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pl, err := parsePorts(*ports, *brokers)
	if err != nil {
		return err
	}
	lvl, err := parseLevel(*logLevel)
	if err != nil {
		return err
	}

	c, err := kafka.Start(kafka.Config{
		Ports:          pl,
		ListenHost:     *listenHost,
		AdvertisedHost: *advHost,
		DataDir:        *dataDir,
		Opts: []kfake.Opt{
			kfake.ClusterID(*clusterID),
			kfake.WithLogger(kfake.BasicLogger(os.Stderr, lvl)),
			// Scenario time is scaled down: allow short sessions, and
			// the KIP-848 heartbeat kfake uses in test binaries.
			kfake.GroupMinSessionTimeout(100 * time.Millisecond),
			kfake.BrokerConfigs(map[string]string{"group.consumer.heartbeat.interval.ms": "100"}),
		},
	})
	if err != nil {
		return err
	}
	defer c.Close()

	ln, err := net.Listen("tcp", *control)
	if err != nil {
		return fmt.Errorf("listen control: %w", err)
	}
	srv := &http.Server{Handler: kafka.Handler(c), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Printf("ready: brokers %s, control %s, data dir %q", strings.Join(c.Addrs(), ","), ln.Addr(), *dataDir)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve control: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	c.Close()
	log.Printf("stopped")
	return nil
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

func parsePorts(s string, n int) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		if n < 1 {
			return nil, fmt.Errorf("brokers must be at least 1, got %d", n)
		}
		ports := make([]int, n)
		for i := range ports {
			ports[i] = 9092 + i
		}
		return ports, nil
	}
	var ports []int
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("invalid port %q in -ports", f)
		}
		ports = append(ports, p)
	}
	return ports, nil
}

func parseLevel(s string) (kfake.LogLevel, error) {
	switch strings.ToLower(s) {
	case "none":
		return kfake.LogLevelNone, nil
	case "error":
		return kfake.LogLevelError, nil
	case "warn":
		return kfake.LogLevelWarn, nil
	case "info":
		return kfake.LogLevelInfo, nil
	case "debug":
		return kfake.LogLevelDebug, nil
	}
	return 0, fmt.Errorf("unknown log level %q (none|error|warn|info|debug)", s)
}
