// Command pipechaos-s3sink runs connectors/s3sink as a process of its own —
// the image pipechaos/s3sink:dev — so the harness can test it as a black
// box, the way a team tests its own connector container: it only gets
// addresses. Every flag can also be set through the environment variable
// named in its help. It serves /healthz and /metrics on -listen, logs to
// stdout, and on SIGTERM stops consuming, flushes what it holds and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout))
}

func run(args []string, stdout *os.File) int {
	log := slog.New(slog.NewTextHandler(stdout, nil))
	fs := flag.NewFlagSet("pipechaos-s3sink", flag.ContinueOnError)
	str := func(name, env, def, help string) *string {
		if v := os.Getenv(env); v != "" {
			def = v
		}
		return fs.String(name, def, help+" (env "+env+")")
	}
	var (
		brokers  = str("brokers", "PIPECHAOS_SINK_BROKERS", "", "seed brokers, comma-separated host:port")
		topic    = str("topic", "PIPECHAOS_SINK_TOPIC", "", "topic to sink")
		group    = str("group", "PIPECHAOS_SINK_GROUP", "", "consumer group (default pipechaos-s3sink-<topic>)")
		registry = str("registry", "PIPECHAOS_SINK_REGISTRY_URL", "", "schema registry URL")
		endpoint = str("s3-endpoint", "PIPECHAOS_SINK_S3_ENDPOINT", "", "S3 endpoint host:port or URL")
		access   = str("s3-access-key", "PIPECHAOS_SINK_S3_ACCESS_KEY", "", "S3 access key")
		secret   = str("s3-secret-key", "PIPECHAOS_SINK_S3_SECRET_KEY", "", "S3 secret key")
		bucket   = str("bucket", "PIPECHAOS_SINK_BUCKET", "", "bucket to write to (must exist)")
		flush    = str("flush-size", "PIPECHAOS_SINK_FLUSH_SIZE", "0", "records per object (0: the sink's default)")
		rotate   = str("rotate-interval", "PIPECHAOS_SINK_ROTATE_INTERVAL", "0s", "longest a record waits in a buffer (0: the sink's default)")
		listen   = str("listen", "PIPECHAOS_SINK_LISTEN", "127.0.0.1:9464", "address of /healthz and /metrics")
		process  = str("process", "PIPECHAOS_SINK_PROCESS", "s3sink", "name in metrics")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	flushSize, err := strconv.Atoi(*flush)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pipechaos-s3sink: -flush-size %q is not a number\n", *flush)
		return 2
	}
	rotateEvery, err := time.ParseDuration(*rotate)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pipechaos-s3sink: -rotate-interval %q is not a duration (e.g. 500ms)\n", *rotate)
		return 2
	}
	var seeds []string
	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			seeds = append(seeds, b)
		}
	}
	sink, err := s3sink.New(s3sink.Config{
		Brokers: seeds, Topic: *topic, Group: *group, RegistryURL: *registry,
		S3Endpoint: *endpoint, S3AccessKey: *access, S3SecretKey: *secret, Bucket: *bucket,
		FlushSize: flushSize, RotateInterval: rotateEvery, Process: *process,
		Logf: func(format string, a ...any) { log.Info(fmt.Sprintf(format, a...)) },
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pipechaos-s3sink: %v\n", err)
		return 2
	}
	defer sink.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pipechaos-s3sink: listen on %s: %v (choose another -listen)\n", *listen, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET /metrics", sink.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log.Info("sinking", "topic", *topic, "brokers", seeds, "bucket", *bucket, "listen", ln.Addr().String())
	if err := sink.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("sink failed", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
