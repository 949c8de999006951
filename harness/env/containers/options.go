package containers

import (
	"fmt"
	"os"
	"time"
)

// Default images, built by `make images`. The default Kafka is real Apache
// Kafka (replication, ISR, elections, KRaft); the kfake image is the fast
// option (PIPECHAOS_KAFKA_IMAGE=pipechaos/kafka:dev).
const (
	DefaultKafkaImage    = ApacheKafkaImage
	DefaultRegistryImage = "pipechaos/registry:dev"
	DefaultMinIOImage    = "pipechaos/minio:dev"

	// ApacheKafkaImage is real Apache Kafka, one container per broker
	// (images/apache-kafka: the kafka-dist jars on a debootstrapped JRE).
	ApacheKafkaImage = "pipechaos/apache-kafka:dev"
	// FakeKafkaImage is pipechaos-kafka (kfake): a whole region in one
	// container, seconds to start, protocol faults through its control port.
	FakeKafkaImage = "pipechaos/kafka:dev"
)

// Config is the containers-specific configuration, on top of env.Config.
type Config struct {
	KafkaImage     string
	RegistryImage  string
	MinIOImage     string
	AccessKey      string
	SecretKey      string
	StartupTimeout time.Duration
	startupSet     bool
}

// Opt configures the containers backend.
type Opt func(*Config)

// KafkaImage is the image of the Kafka brokers. Default:
// $PIPECHAOS_KAFKA_IMAGE, else pipechaos/apache-kafka:dev. That image,
// apache/kafka and apache/kafka-native run one container per broker; any
// other image is taken to be a pipechaos-kafka image (one container per
// region, kfake).
func KafkaImage(ref string) Opt { return func(c *Config) { c.KafkaImage = ref } }

// RegistryImage is the schema registry image. Default:
// $PIPECHAOS_REGISTRY_IMAGE, else pipechaos/registry:dev.
// confluentinc/cp-schema-registry needs an official Kafka image (it
// stores its schemas in the primary region).
func RegistryImage(ref string) Opt { return func(c *Config) { c.RegistryImage = ref } }

// MinIOImage is the object store image. Default: $PIPECHAOS_MINIO_IMAGE,
// else pipechaos/minio:dev. Any MinIO server image works (minio/minio too).
func MinIOImage(ref string) Opt { return func(c *Config) { c.MinIOImage = ref } }

// Credentials sets the store's access and secret key. Default
// "pipechaos" / "pipechaos-secret-key".
func Credentials(access, secret string) Opt {
	return func(c *Config) { c.AccessKey, c.SecretKey = access, secret }
}

// StartupTimeout bounds the readiness wait of each container. Default
// 60s; 180s with an Apache Kafka image, whose six JVMs start at once and
// take a minute or more on a loaded two-core machine.
func StartupTimeout(d time.Duration) Opt {
	return func(c *Config) { c.StartupTimeout, c.startupSet = d, true }
}

// NewConfig applies defaults (from the environment), then opts, then
// validates.
func NewConfig(opts ...Opt) (Config, error) {
	c := Config{
		KafkaImage:     envOr("PIPECHAOS_KAFKA_IMAGE", DefaultKafkaImage),
		RegistryImage:  envOr("PIPECHAOS_REGISTRY_IMAGE", DefaultRegistryImage),
		MinIOImage:     envOr("PIPECHAOS_MINIO_IMAGE", DefaultMinIOImage),
		AccessKey:      "pipechaos",
		SecretKey:      "pipechaos-secret-key",
		StartupTimeout: 60 * time.Second,
	}
	for _, o := range opts {
		o(&c)
	}
	if !c.startupSet && officialKafka(c.KafkaImage) {
		c.StartupTimeout = 180 * time.Second
	}
	return c, c.validate()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (c Config) validate() error {
	if c.KafkaImage == "" || c.RegistryImage == "" || c.MinIOImage == "" {
		return fmt.Errorf("images cannot be empty (kafka %q, registry %q, minio %q)", c.KafkaImage, c.RegistryImage, c.MinIOImage)
	}
	if officialRegistry(c.RegistryImage) && !officialKafka(c.KafkaImage) {
		return fmt.Errorf("registry image %s stores schemas in Kafka and needs an official Kafka image (apache/kafka), not %s", c.RegistryImage, c.KafkaImage)
	}
	if len(c.AccessKey) < 3 || len(c.SecretKey) < 8 {
		return fmt.Errorf("MinIO needs an access key of at least 3 and a secret key of at least 8 characters")
	}
	if c.StartupTimeout <= 0 {
		return fmt.Errorf("startup timeout must be positive, got %v", c.StartupTimeout)
	}
	return nil
}
