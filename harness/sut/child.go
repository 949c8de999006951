package sut

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pipechaos/pipechaos/connectors"
)

// The environment a sink process gets: its addresses and its name. A sink
// in any language reads these (see `pipechaos run --help`); a Go factory
// run as a child of the test binary gets them as connectors.Addresses.
const (
	EnvBrokers     = "PIPECHAOS_BROKERS"      // seed brokers, comma-separated host:port
	EnvTopic       = "PIPECHAOS_TOPIC"        // the topic to sink
	EnvGroup       = "PIPECHAOS_GROUP"        // the consumer group to join
	EnvRegistryURL = "PIPECHAOS_REGISTRY_URL" // the schema registry's base URL
	EnvS3Endpoint  = "PIPECHAOS_S3_ENDPOINT"  // the store, host:port, plain HTTP
	EnvS3AccessKey = "PIPECHAOS_S3_ACCESS_KEY"
	EnvS3SecretKey = "PIPECHAOS_S3_SECRET_KEY"
	EnvBucket      = "PIPECHAOS_BUCKET"    // the bucket to write into (it exists)
	EnvSinkName    = "PIPECHAOS_SINK_NAME" // unique per sink process in a run
	// EnvFactory names the registered factory a child process serves; set
	// by the harness only.
	EnvFactory = "PIPECHAOS_SUT_FACTORY"
)

// AddressEnv is a's environment for a sink process named name.
func AddressEnv(a connectors.Addresses, name string) []string {
	return []string{
		EnvBrokers + "=" + strings.Join(a.Brokers, ","),
		EnvTopic + "=" + a.Topic,
		EnvGroup + "=" + a.Group,
		EnvRegistryURL + "=" + a.RegistryURL,
		EnvS3Endpoint + "=" + a.S3Endpoint,
		EnvS3AccessKey + "=" + a.S3AccessKey,
		EnvS3SecretKey + "=" + a.S3SecretKey,
		EnvBucket + "=" + a.Bucket,
		EnvSinkName + "=" + name,
	}
}

// AddressesFromEnv reads the addresses a sink process was given, and its
// name. It fails naming every variable missing.
func AddressesFromEnv() (connectors.Addresses, string, error) {
	var missing []string
	get := func(k string) string {
		v := os.Getenv(k)
		if v == "" {
			missing = append(missing, k)
		}
		return v
	}
	a := connectors.Addresses{
		Topic: get(EnvTopic), Group: get(EnvGroup), RegistryURL: get(EnvRegistryURL),
		S3Endpoint: get(EnvS3Endpoint), S3AccessKey: get(EnvS3AccessKey), S3SecretKey: get(EnvS3SecretKey),
		Bucket: get(EnvBucket),
	}
	for _, b := range strings.Split(get(EnvBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			a.Brokers = append(a.Brokers, b)
		}
	}
	name := os.Getenv(EnvSinkName)
	if name == "" {
		name = "sink"
	}
	if len(missing) > 0 {
		return a, name, fmt.Errorf("sink process: environment variables not set: %s (the harness sets them; see `pipechaos run --help`)",
			strings.Join(missing, ", "))
	}
	return a, name, nil
}

var (
	regMu     sync.Mutex
	factories = map[string]connectors.SinkFactory{}
)

// Register names a sink factory so that a child process of this binary can
// build it: call it from an init (or a package-level var) of the binary
// that starts the processes, and call Main first thing in its TestMain or
// main. Registering a name twice panics.
func Register(name string, f connectors.SinkFactory) string {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := factories[name]; dup {
		panic("sut: sink factory registered twice: " + name)
	}
	factories[name] = f
	return name
}

// Registered lists the registered factory names.
func Registered() []string {
	regMu.Lock()
	defer regMu.Unlock()
	var out []string
	for n := range factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Main serves a registered factory when this process was started as a sink
// process (EnvFactory is set), and exits; otherwise it returns at once.
// Call it first in TestMain (before m.Run) or main:
//
//	func TestMain(m *testing.M) { sut.Main(); os.Exit(m.Run()) }
func Main() {
	name := os.Getenv(EnvFactory)
	if name == "" || strings.HasPrefix(name, testPrefix) {
		return
	}
	regMu.Lock()
	f := factories[name]
	regMu.Unlock()
	if f == nil {
		fmt.Fprintf(os.Stderr, "sut: no sink factory registered as %q in %s (registered: %s)\n", name, os.Args[0], strings.Join(Registered(), ", "))
		os.Exit(2)
	}
	os.Exit(Serve(f))
}

// Serve runs the sink f builds from the environment's addresses until
// SIGTERM or SIGINT (then Close, and Run's return) and returns the exit
// status: 0 when Run returned nil or was cancelled, 1 when it failed (the
// error is printed on stderr), 2 when the sink could not be built.
func Serve(f connectors.SinkFactory) int {
	a, name, err := AddressesFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s, err := f(a, name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sink %s: build: %v\n", name, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Printf("sink %s: consuming %s as group %s (pid %d)\n", name, a.Topic, a.Group, os.Getpid())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		s.Close()
		err = <-done
	}
	s.Close()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "sink %s: %v\n", name, err)
		return 1
	}
	fmt.Printf("sink %s: stopped\n", name)
	return 0
}

// testPrefix marks a child that reruns the test that started it (see
// ServeInTest).
const testPrefix = "test:"

// ServeInTest makes the calling test its own sink process: in a child
// started by InTest for this test, it serves f and exits the process; in
// the harness it returns at once. Everything the test did before calling
// it runs in the child too, so call it first (SinkConformance does).
func ServeInTest(tb testing.TB, f connectors.SinkFactory) {
	if os.Getenv(EnvFactory) == testPrefix+tb.Name() {
		os.Exit(Serve(f))
	}
}

// Self is the command that re-executes this binary, and the arguments a
// test binary needs so that it runs no test (its TestMain calls Main).
func Self() (path string, args []string, err error) {
	path, err = os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("find this binary to re-execute it: %w", err)
	}
	if flag.Lookup("test.run") != nil {
		args = []string{"-test.run=^$", "-test.timeout=0"}
	}
	return path, args, nil
}

// ForFactory is the spec of a sink process of this binary serving the
// factory registered as factory, named name, with addresses a.
func ForFactory(factory, name string, a connectors.Addresses, env ...string) (Spec, error) {
	path, args, err := Self()
	if err != nil {
		return Spec{}, err
	}
	return Spec{Name: name, Path: path, Args: args,
		Env: append(append(AddressEnv(a, name), EnvFactory+"="+factory), env...)}, nil
}

// InTest is the spec of a sink process that reruns the test tb (and only
// it), whose ServeInTest call then serves the test's factory.
func InTest(tb testing.TB, name string, a connectors.Addresses, env ...string) (Spec, error) {
	path, err := os.Executable()
	if err != nil {
		return Spec{}, fmt.Errorf("find the test binary to re-execute it: %w", err)
	}
	parts := strings.Split(tb.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return Spec{Name: name, Path: path, Args: []string{"-test.run=" + strings.Join(parts, "/"), "-test.timeout=0"},
		Env: append(append(AddressEnv(a, name), EnvFactory+"="+testPrefix+tb.Name()), env...)}, nil
}

// ForCommand is the spec of a sink process running cmdline through
// /bin/sh -c, named name, with addresses a in its environment.
func ForCommand(cmdline, name string, a connectors.Addresses, env ...string) Spec {
	return Spec{Name: name, Path: "/bin/sh", Args: []string{"-c", cmdline}, Env: append(AddressEnv(a, name), env...)}
}

// StartT starts spec for a test: the process is closed at the test's
// cleanup (also after a panic), and its log's tail is logged if the test
// failed.
func StartT(tb testing.TB, ctx context.Context, spec Spec) *Process {
	tb.Helper()
	p, err := Start(ctx, spec)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = p.Close()
		if tb.Failed() {
			tb.Logf("log of %s (%s), last lines:\n%s", p.Name(), p.LogPath(), p.Tail(40))
		}
	})
	return p
}

// stopGrace is how long a Sink's Close waits for a clean exit.
const stopGrace = 10 * time.Second
