package connect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pipechaos/pipechaos/connectors"
)

// SinkConfig is a sink connector run in a worker of its own as a
// connectors.Sink: what `pipechaos run <scenario> --connect-plugin DIR
// --connector-config FILE.json` and scenarios.SinkConformance need.
type SinkConfig struct {
	// Worker configures the worker; Bootstrap is taken from the sink's
	// addresses and Group defaults to "connect-<name>".
	Worker Config
	// Connector is the connector's configuration. Values may hold the
	// placeholders Expand lists, filled from the sink's addresses.
	Connector map[string]string
	// StatusInterval is how often Run reads the connector's status.
	// Default 500ms.
	StatusInterval time.Duration
}

// placeholder is ${name} in a connector config value.
var placeholder = regexp.MustCompile(`\$\{([a-z0-9.]+)\}`)

// Placeholders lists what Expand fills in, with what.
var Placeholders = []string{
	"${brokers}: the bootstrap list, host:port,host:port",
	"${topic}: the topic the scenario produces to",
	"${group}: the consumer group the harness reads the lag of",
	"${name}: the sink's name in the run",
	"${registry.url}: the schema registry, http://host:port",
	"${s3.endpoint}: the object store, host:port (plain HTTP)",
	"${s3.url}: the object store, http://host:port",
	"${s3.access.key}, ${s3.secret.key}: its credentials",
	"${bucket}: the bucket the checker reads",
}

// Expand fills the placeholders of config's values from a and name. An
// unknown placeholder is an error naming it and the known ones.
func Expand(config map[string]string, a connectors.Addresses, name string) (map[string]string, error) {
	vals := map[string]string{
		"brokers": strings.Join(a.Brokers, ","), "topic": a.Topic, "group": a.Group, "name": name,
		"registry.url": a.RegistryURL, "s3.endpoint": a.S3Endpoint, "s3.url": "http://" + a.S3Endpoint,
		"s3.access.key": a.S3AccessKey, "s3.secret.key": a.S3SecretKey, "bucket": a.Bucket,
	}
	out := make(map[string]string, len(config))
	var unknown []string
	for k, v := range config {
		out[k] = placeholder.ReplaceAllStringFunc(v, func(m string) string {
			key := m[2 : len(m)-1]
			if r, ok := vals[key]; ok {
				return r
			}
			unknown = append(unknown, fmt.Sprintf("%s (in %q)", m, k))
			return m
		})
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("connector config: unknown placeholder %s; known: %s", strings.Join(unknown, ", "), strings.Join(Placeholders, "; "))
	}
	return out, nil
}

// LoadConnectorConfig reads a connector's configuration from a JSON file:
// either the REST API's create body {"name": ..., "config": {...}} or the
// flat config object {"connector.class": ..., ...}. Numbers and booleans
// become strings, as the REST API takes them. It needs connector.class.
func LoadConnectorConfig(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("connector config: %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("connector config %s: not a JSON object: %w", path, err)
	}
	if inner, ok := raw["config"].(map[string]any); ok {
		raw = inner
	}
	out := map[string]string{}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		switch v := raw[k].(type) {
		case string:
			out[k] = v
		case float64:
			out[k] = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			out[k] = strconv.FormatBool(v)
		default:
			errs = append(errs, fmt.Errorf("connector config %s: %q is a %T: give it as a string", path, k, v))
		}
	}
	if out["connector.class"] == "" {
		errs = append(errs, fmt.Errorf("connector config %s: no connector.class: name the sink connector's class", path))
	}
	return out, errors.Join(errs...)
}

// SinkFactory builds sinks that each run cfg's connector in a worker of
// their own. The connector's config is expanded (Expand) when the sink is
// built, so a bad placeholder fails the run at once; the worker starts in
// Run. Unless the config sets them, topics is the scenario's topic and
// consumer.override.group.id its group, so the harness reads the lag of
// the group the connector commits in.
func SinkFactory(cfg SinkConfig) connectors.SinkFactory {
	return func(a connectors.Addresses, name string) (connectors.Sink, error) {
		conn, err := Expand(cfg.Connector, a, name)
		if err != nil {
			return nil, err
		}
		if conn["connector.class"] == "" {
			return nil, errors.New("connector config: no connector.class")
		}
		if conn["topics"] == "" && conn["topics.regex"] == "" {
			conn["topics"] = a.Topic
		}
		if conn["consumer.override.group.id"] == "" && a.Group != "" {
			conn["consumer.override.group.id"] = a.Group
		}
		wc := cfg.Worker
		wc.Bootstrap = strings.Join(a.Brokers, ",")
		if wc.Group == "" {
			wc.Group = "connect-" + name
		}
		if err := wc.withDefaults().validate(); err != nil {
			return nil, err
		}
		every := cfg.StatusInterval
		if every == 0 {
			every = 500 * time.Millisecond
		}
		return &Sink{cfg: wc, name: name, connector: conn, every: every, closed: make(chan struct{})}, nil
	}
}

// Sink is one connector in a worker of its own, as a connectors.Sink. Run
// starts the worker, configures the connector through the REST API and
// returns when ctx is done or Close is called (nil), when a task is FAILED
// per GET /connectors/{name}/status, or when the worker process ends (an
// OOM, a kill), with an error saying which.
type Sink struct {
	cfg       Config
	name      string
	connector map[string]string
	every     time.Duration

	mu     sync.Mutex
	worker *Worker
	closed chan struct{}
	once   sync.Once
}

// Worker is the running worker (nil before Run started it), for faults
// (Kill, Pause, Restart) and measurements (PeakRSS).
func (s *Sink) Worker() *Worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.worker
}

// Run implements connectors.Sink.
func (s *Sink) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	w, err := Start(ctx, s.cfg)
	if err != nil {
		if s.isClosed() {
			return nil
		}
		return err
	}
	defer w.Close()
	s.mu.Lock()
	s.worker = w
	s.mu.Unlock()
	if err := w.PutConnector(ctx, s.name, s.connector); err != nil {
		if s.isClosed() || ctx.Err() != nil {
			return nil
		}
		return err
	}
	tick := time.NewTicker(s.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.Done():
			if e, ok := w.Exited(); ok && !s.isClosed() {
				return fmt.Errorf("connect: the worker of %s ended: %s", s.name, e)
			}
			return nil
		case <-tick.C:
		}
		st, err := w.Status(ctx, s.name)
		if err != nil {
			continue // restarting, rebalancing, paused: the next read tells
		}
		if f := st.Failed(); len(f) > 0 {
			first, _, _ := strings.Cut(f[0].Trace, "\n")
			return fmt.Errorf("connect: %s task %d is FAILED per GET /connectors/%s/status: %s", s.name, f[0].ID, s.name, first)
		}
	}
}

func (s *Sink) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Kill ends the worker with SIGKILL, as a crash would: no offset commit,
// no leaving the group. Run returns the worker's end as its error (a
// supervisor restarts the sink, which resumes from the committed offsets).
func (s *Sink) Kill() error {
	if w := s.Worker(); w != nil {
		return w.Kill()
	}
	return nil
}

// PeakRSS is the worker's peak resident set size in bytes, measured from
// outside (0 before Run started it).
func (s *Sink) PeakRSS() int64 {
	if w := s.Worker(); w != nil {
		return w.PeakRSS()
	}
	return 0
}

// Close implements connectors.Sink: Run stops the worker and returns nil.
func (s *Sink) Close() { s.once.Do(func() { close(s.closed) }) }
