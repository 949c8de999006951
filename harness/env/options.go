package env

import (
	"fmt"
	"os"
)

// Backend names.
const (
	Embedded   = "embedded"
	Containers = "containers"
	// Nodes runs real Apache Kafka brokers (KRaft, combined roles), the
	// registry and MinIO as processes, each broker a host of its own in a
	// network namespace the harness creates (see harness/env/nodes).
	Nodes = "nodes"
)

// Config is the resolved set of options for a backend. Backends read it;
// users build it with Opts.
type Config struct {
	Backend          string
	BrokersPerRegion int
	Bucket           string
	DataDir          string
	Logf             func(format string, args ...any)
}

// Opt configures an environment.
type Opt func(*Config)

// Backend selects the backend. Default: $PIPECHAOS_BACKEND, else "embedded".
func Backend(name string) Opt { return func(c *Config) { c.Backend = name } }

// BrokersPerRegion sets the number of brokers in each region. Default 3.
func BrokersPerRegion(n int) Opt { return func(c *Config) { c.BrokersPerRegion = n } }

// Bucket names the bucket created in the store. Default "pipechaos".
func Bucket(name string) Opt { return func(c *Config) { c.Bucket = name } }

// DataDir is where brokers persist their logs. Default: a test temp dir.
func DataDir(dir string) Opt { return func(c *Config) { c.DataDir = dir } }

// Logf receives the environment's progress lines. Default: discarded.
func Logf(fn func(format string, args ...any)) Opt { return func(c *Config) { c.Logf = fn } }

// NewConfig applies defaults, then opts, then validates.
func NewConfig(opts ...Opt) (Config, error) {
	c := Config{
		Backend:          os.Getenv("PIPECHAOS_BACKEND"),
		BrokersPerRegion: 3,
		Bucket:           "pipechaos",
		Logf:             func(string, ...any) {},
	}
	for _, o := range opts {
		o(&c)
	}
	if c.Backend == "" {
		c.Backend = Embedded
	}
	return c, c.validate()
}

func (c Config) validate() error {
	switch c.Backend {
	case Embedded, Containers, Nodes:
	default:
		return fmt.Errorf("unknown backend %q: use %q, %q or %q (option env.Backend or PIPECHAOS_BACKEND)", c.Backend, Embedded, Nodes, Containers)
	}
	if c.BrokersPerRegion < 1 {
		return fmt.Errorf("brokers per region must be at least 1, got %d", c.BrokersPerRegion)
	}
	if c.Bucket == "" {
		return fmt.Errorf("bucket name cannot be empty")
	}
	if c.Logf == nil {
		return fmt.Errorf("logf cannot be nil")
	}
	return nil
}
